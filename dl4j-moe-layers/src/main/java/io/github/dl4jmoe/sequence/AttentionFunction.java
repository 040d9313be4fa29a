package io.github.dl4jmoe.sequence;

import java.util.Map;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link CausalSelfAttention}'s eager path, as batched ND4J products over the {@code B = mb h} (example, head) pairs:
 * <pre>
 *   q, k, v = rows Wq + bq, ...           rows [mb T, d] -> per pair [B, T, dh]
 *   s = q k^T / sqrt(dh) + m              m = 0 for keys u &lt;= t that the mask marks real, -1e9 otherwise   [B, T, T]
 *   a = softmax(s);  c = a v              y = merge_heads(c) Wo + bo, zero at masked query steps
 * </pre>
 * Backward: {@code dv = a^T dc}, {@code da = dc v^T}, {@code ds = a (da - rowsum(a da)) / sqrt(dh)},
 * {@code dq = ds k}, {@code dk = ds^T q}; then the projections' gradients. A masked query's scores get no bias (all
 * keys forbidden would make M2.1's softmax return NaN); its output and gradients are zero anyway.
 */
final class AttentionFunction implements HostFunction<AttentionFunction.Saved> {

    private final int heads;
    private final boolean hasBias;

    AttentionFunction(int heads, boolean hasBias) {
        this.heads = heads;
        this.hasBias = hasBias;
    }

    /** What the backward pass needs: rows {@code [mb T, d]}, per-pair projections and weights, merged context. */
    record Saved(INDArray rows, INDArray q, INDArray k, INDArray v, INDArray weights, INDArray merged,
                 INDArray queryMask) {
    }

    @Override
    public HostResult<Saved> forward(HostContext ctx, INDArray[] inputs) {
        INDArray x = inputs[0];                                                   // [mb, d, T]
        int mb = (int) x.size(0);
        int d = (int) x.size(1);
        int steps = (int) x.size(2);
        double scale = 1.0 / Math.sqrt(d / heads);
        INDArray rows = x.permute(0, 2, 1).dup('c').reshape(mb * steps, d);     // row b T + t
        INDArray q = split(project(ctx, rows, CausalSelfAttention.W_QUERY, CausalSelfAttention.B_QUERY), mb, steps);
        INDArray k = split(project(ctx, rows, CausalSelfAttention.W_KEY, CausalSelfAttention.B_KEY), mb, steps);
        INDArray v = split(project(ctx, rows, CausalSelfAttention.W_VALUE, CausalSelfAttention.B_VALUE), mb, steps);
        INDArray scores = Nd4j.matmul(q, k, false, true, false).muli(scale)      // [B, T, T]
                .addi(maskBias(HostArrays.toDoubles(inputs[1]), mb, steps, x));
        INDArray weights = Nd4j.exec(new SoftMax(scores, scores, 2))[0];
        INDArray merged = merge(Nd4j.matmul(weights, v), mb, steps);            // [mb T, d]
        INDArray queryMask = inputs[1].reshape(mb * steps, 1);
        INDArray out = project(ctx, merged, CausalSelfAttention.W_OUT, CausalSelfAttention.B_OUT)
                .muliColumnVector(queryMask);
        INDArray y = out.reshape(mb, steps, d).permute(0, 2, 1).dup('c');
        return new HostResult<>(y, new Saved(rows, q, k, v, weights, merged, queryMask), Map.of());
    }

    @Override
    public INDArray[] backward(HostContext ctx, INDArray[] inputs, Saved saved, INDArray outputGradient) {
        INDArray x = inputs[0];
        int mb = (int) x.size(0);
        int d = (int) x.size(1);
        int steps = (int) x.size(2);
        double scale = 1.0 / Math.sqrt(d / heads);
        INDArray dOut = outputGradient.permute(0, 2, 1).dup('c').reshape(mb * steps, d)
                .muliColumnVector(saved.queryMask());
        INDArray dMerged = backProject(ctx, saved.merged(), dOut, CausalSelfAttention.W_OUT,
                CausalSelfAttention.B_OUT);
        INDArray dContext = split(dMerged, mb, steps);                           // [B, T, dh]
        INDArray a = saved.weights();
        INDArray dv = Nd4j.matmul(a, dContext, true, false, false);
        INDArray da = Nd4j.matmul(dContext, saved.v(), false, true, false);     // [B, T, T]
        INDArray ds = da.subi(da.mul(a).sum(true, 2)).muli(a).muli(scale);
        INDArray dq = Nd4j.matmul(ds, saved.k());
        INDArray dk = Nd4j.matmul(ds, saved.q(), true, false, false);
        INDArray rows = saved.rows();
        INDArray dx = backProject(ctx, rows, merge(dq, mb, steps), CausalSelfAttention.W_QUERY,
                CausalSelfAttention.B_QUERY);
        dx.addi(backProject(ctx, rows, merge(dk, mb, steps), CausalSelfAttention.W_KEY, CausalSelfAttention.B_KEY));
        dx.addi(backProject(ctx, rows, merge(dv, mb, steps), CausalSelfAttention.W_VALUE,
                CausalSelfAttention.B_VALUE));
        return new INDArray[] {dx.reshape(mb, steps, d).permute(0, 2, 1).dup('c')};
    }

    /** Rows {@code [mb T, h dh]} to per-pair blocks {@code [mb h, T, dh]}. */
    private INDArray split(INDArray rows, int mb, int steps) {
        long dh = rows.size(1) / heads;
        return rows.reshape(mb, steps, heads, dh).permute(0, 2, 1, 3).dup('c').reshape((long) mb * heads, steps, dh);
    }

    /** The inverse of {@link #split}. */
    private INDArray merge(INDArray blocks, int mb, int steps) {
        long dh = blocks.size(2);
        return blocks.reshape(mb, heads, steps, dh).permute(0, 2, 1, 3).dup('c').reshape((long) mb * steps,
                heads * dh);
    }

    /**
     * {@code [mb h, T, T]}: 0 where query t may see key u (u &lt;= t, u real), {@link CausalSelfAttention#MASKED_SCORE}
     * elsewhere; all 0 for a masked query.
     */
    private INDArray maskBias(double[] mask, int mb, int steps, INDArray like) {
        double[] bias = new double[mb * heads * steps * steps];
        for (int b = 0; b < mb; b++) {
            for (int t = 0; t < steps; t++) {
                if (mask[b * steps + t] == 0) {
                    continue;
                }
                for (int u = 0; u < steps; u++) {
                    double m = u <= t && mask[b * steps + u] != 0 ? 0 : CausalSelfAttention.MASKED_SCORE;
                    for (int h = 0; h < heads; h++) {
                        bias[((b * heads + h) * steps + t) * steps + u] = m;
                    }
                }
            }
        }
        return HostArrays.fromDoubles(bias, like.dataType(), (long) mb * heads, steps, steps);
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
}
