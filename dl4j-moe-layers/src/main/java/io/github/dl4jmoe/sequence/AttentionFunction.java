package io.github.dl4jmoe.sequence;

import java.util.Map;
import java.util.stream.IntStream;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import io.github.dl4jmoe.host.Parallelism;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link CausalSelfAttention}'s eager path. The projections are ND4J products on the rows {@code [mb*T, d]}; the
 * attention of each (example, head) runs in Java, in parallel over (example, head) pairs:
 * <pre>
 *   s[t, u] = q_t . k_u / sqrt(dh)  for keys u &lt;= t that the mask marks real        per example and head
 *   a[t, .] = softmax(s[t, .])      (forbidden keys get weight 0)
 *   c_t     = sum_u a[t, u] v_u;   y = concat_heads(c) Wo + bo, zero at masked query steps
 * </pre>
 * Backward: {@code da = dc . v}, {@code dv += a dc}, {@code ds = a (da - sum_u a da) / sqrt(dh)},
 * {@code dq += ds k}, {@code dk += ds q}; then the projections' gradients.
 */
final class AttentionFunction implements HostFunction<AttentionFunction.Saved> {

    private final int heads;
    private final boolean hasBias;

    AttentionFunction(int heads, boolean hasBias) {
        this.heads = heads;
        this.hasBias = hasBias;
    }

    /**
     * What the backward pass needs: the rows, projections ({@code [mb*T, d]} row-major, head h in columns
     * {@code [h dh, (h + 1) dh)}), attention weights {@code [mb, h, T, T]} and the merged context rows.
     */
    record Saved(INDArray rows, double[] q, double[] k, double[] v, double[] weights, INDArray merged, double[] mask) {
    }

    @Override
    public HostResult<Saved> forward(HostContext ctx, INDArray[] inputs) {
        INDArray x = inputs[0];                                                   // [mb, d, T]
        double[] mask = HostArrays.toDoubles(inputs[1]);                          // [mb, T]
        int mb = (int) x.size(0);
        int d = (int) x.size(1);
        int steps = (int) x.size(2);
        INDArray rows = x.permute(0, 2, 1).dup('c').reshape(mb * steps, d);     // row b T + t
        double[] q = HostArrays.toDoubles(project(ctx, rows, CausalSelfAttention.W_QUERY, CausalSelfAttention.B_QUERY));
        double[] k = HostArrays.toDoubles(project(ctx, rows, CausalSelfAttention.W_KEY, CausalSelfAttention.B_KEY));
        double[] v = HostArrays.toDoubles(project(ctx, rows, CausalSelfAttention.W_VALUE, CausalSelfAttention.B_VALUE));
        int dh = d / heads;
        double scale = 1.0 / Math.sqrt(dh);
        double[] weights = new double[mb * heads * steps * steps];
        double[] merged = new double[mb * steps * d];
        inParallel(mb * heads, pair -> {
            int b = pair / heads;
            int h = pair % heads;
            double[] scores = new double[steps];
            for (int t = 0; t < steps; t++) {
                if (mask[b * steps + t] == 0) {
                    continue;                                   // masked query: output zero, no gradient
                }
                int qi = (b * steps + t) * d + h * dh;
                double max = Double.NEGATIVE_INFINITY;
                for (int u = 0; u <= t; u++) {
                    if (mask[b * steps + u] != 0) {
                        int ki = (b * steps + u) * d + h * dh;
                        double dot = 0;
                        for (int j = 0; j < dh; j++) {
                            dot += q[qi + j] * k[ki + j];
                        }
                        scores[u] = dot * scale;
                        max = Math.max(max, scores[u]);
                    }
                }
                int wi = ((b * heads + h) * steps + t) * steps;
                double sum = 0;
                for (int u = 0; u <= t; u++) {
                    if (mask[b * steps + u] != 0) {
                        weights[wi + u] = Math.exp(scores[u] - max);
                        sum += weights[wi + u];
                    }
                }
                int ci = (b * steps + t) * d + h * dh;
                for (int u = 0; u <= t; u++) {
                    if (mask[b * steps + u] != 0) {
                        double a = weights[wi + u] / sum;
                        weights[wi + u] = a;
                        int vi = (b * steps + u) * d + h * dh;
                        for (int j = 0; j < dh; j++) {
                            merged[ci + j] += a * v[vi + j];
                        }
                    }
                }
            }
        });
        INDArray mergedRows = HostArrays.fromDoubles(merged, x.dataType(), mb * steps, d);
        INDArray out = project(ctx, mergedRows, CausalSelfAttention.W_OUT, CausalSelfAttention.B_OUT)
                .mulColumnVector(inputs[1].reshape(mb * steps, 1));                  // zero at masked queries
        INDArray y = out.reshape(mb, steps, d).permute(0, 2, 1).dup('c');
        return new HostResult<>(y, new Saved(rows, q, k, v, weights, mergedRows, mask), Map.of());
    }

    @Override
    public INDArray[] backward(HostContext ctx, INDArray[] inputs, Saved saved, INDArray outputGradient) {
        INDArray x = inputs[0];
        int mb = (int) x.size(0);
        int d = (int) x.size(1);
        int steps = (int) x.size(2);
        int dh = d / heads;
        double scale = 1.0 / Math.sqrt(dh);
        INDArray dOut = outputGradient.permute(0, 2, 1).dup('c').reshape(mb * steps, d)
                .muliColumnVector(inputs[1].reshape(mb * steps, 1));
        INDArray dMergedRows = backProject(ctx, saved.merged(), dOut, CausalSelfAttention.W_OUT,
                CausalSelfAttention.B_OUT);
        double[] dMerged = HostArrays.toDoubles(dMergedRows);
        double[] q = saved.q();
        double[] k = saved.k();
        double[] v = saved.v();
        double[] mask = saved.mask();
        double[] weights = saved.weights();
        double[] dq = new double[q.length];
        double[] dk = new double[k.length];
        double[] dv = new double[v.length];
        inParallel(mb * heads, pair -> {
            int b = pair / heads;
            int h = pair % heads;
            double[] da = new double[steps];
            for (int t = 0; t < steps; t++) {
                if (mask[b * steps + t] == 0) {
                    continue;
                }
                int wi = ((b * heads + h) * steps + t) * steps;
                int ci = (b * steps + t) * d + h * dh;
                double dot = 0;
                for (int u = 0; u <= t; u++) {
                    if (mask[b * steps + u] != 0) {
                        int vi = (b * steps + u) * d + h * dh;
                        double s = 0;
                        for (int j = 0; j < dh; j++) {
                            s += dMerged[ci + j] * v[vi + j];
                            dv[vi + j] += weights[wi + u] * dMerged[ci + j];
                        }
                        da[u] = s;
                        dot += weights[wi + u] * s;
                    }
                }
                int qi = ci;
                for (int u = 0; u <= t; u++) {
                    if (mask[b * steps + u] != 0) {
                        double ds = weights[wi + u] * (da[u] - dot) * scale;
                        int ki = (b * steps + u) * d + h * dh;
                        for (int j = 0; j < dh; j++) {
                            dq[qi + j] += ds * k[ki + j];
                            dk[ki + j] += ds * q[qi + j];
                        }
                    }
                }
            }
        });
        INDArray rows = saved.rows();
        INDArray dx = backProject(ctx, rows, HostArrays.fromDoubles(dq, x.dataType(), mb * steps, d),
                CausalSelfAttention.W_QUERY, CausalSelfAttention.B_QUERY);
        dx.addi(backProject(ctx, rows, HostArrays.fromDoubles(dk, x.dataType(), mb * steps, d),
                CausalSelfAttention.W_KEY, CausalSelfAttention.B_KEY));
        dx.addi(backProject(ctx, rows, HostArrays.fromDoubles(dv, x.dataType(), mb * steps, d),
                CausalSelfAttention.W_VALUE, CausalSelfAttention.B_VALUE));
        return new INDArray[] {dx.reshape(mb, steps, d).permute(0, 2, 1).dup('c')};
    }

    /** {@code rows W [+ b]}. */
    private INDArray project(HostContext ctx, INDArray rows, String weight, String bias) {
        INDArray y = rows.mmul(ctx.param(weight));
        return hasBias ? y.addiRowVector(ctx.param(bias)) : y;
    }

    /** Writes the gradients of {@code rows W [+ b]} from {@code dy} and returns {@code dy W^T}. */
    private INDArray backProject(HostContext ctx, INDArray rows, INDArray dy, String weight, String bias) {
        ctx.gradient(weight).assign(rows.transpose().mmul(dy));
        if (hasBias) {
            ctx.gradient(bias).assign(dy.sum(true, 0));
        }
        return dy.mmul(ctx.param(weight).transpose());
    }

    /** Runs {@code body} on every index of {@code [0, count)}, in {@link Parallelism#threads()} contiguous ranges. */
    private static void inParallel(int count, java.util.function.IntConsumer body) {
        int threads = Math.max(1, Math.min(Parallelism.threads(), count));
        IntStream.range(0, threads).parallel().forEach(part -> {
            int end = Parallelism.bound(count, part + 1, threads);
            for (int i = Parallelism.bound(count, part, threads); i < end; i++) {
                body.accept(i);
            }
        });
    }
}
