package io.github.dl4jmoe.sequence;

import static io.github.dl4jmoe.host.ThreadedGemm.gemm;

import java.util.Map;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import io.github.dl4jmoe.host.ScratchArrays;
import io.github.dl4jmoe.host.ThreadedGemm;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link CausalSelfAttention}'s eager path, as batched products over the {@code B = mb h} (example, head) pairs:
 * <pre>
 *   q, k, v = rows Wq + bq, ...           rows [mb T, d] -> per pair [B, T, dh]
 *   s = q k^T / sqrt(dh) + m              m = 0 for keys u &lt;= t that the mask marks real, -1e9 otherwise   [B, T, T]
 *   a = softmax(s);  c = a v              y = merge_heads(c) Wo + bo, zero at masked query steps
 * </pre>
 * Backward: {@code dv = a^T dc}, {@code da = dc v^T}, {@code ds = a (da - rowsum(a da)) / sqrt(dh)},
 * {@code dq = ds k}, {@code dk = ds^T q}; then the projections' gradients. A masked query's scores get no bias (all
 * keys forbidden would make M2.1's softmax return NaN); its output and gradients are zero anyway. On the CPU backend
 * the softmax and its backward pass run in Java ({@link AttentionSoftmax}). Products are written into arrays reused
 * from pass to pass: the forward pass's stay valid until the next forward pass.
 */
final class AttentionFunction implements HostFunction<AttentionFunction.Saved> {

    private final int heads;
    private final boolean hasBias;
    /** Every large array of a pass, reused from pass to pass (forward and backward use different names). */
    private final ScratchArrays scratch = new ScratchArrays();
    /** The mask {@link #maskBias} last expanded, and the array it wrote (reused while the mask stays the same). */
    private double[] biasMask;
    private INDArray biasArray;

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
        DataType type = x.dataType();
        int mb = (int) x.size(0);
        int d = (int) x.size(1);
        int steps = (int) x.size(2);
        long pairs = (long) mb * heads;
        double scale = 1.0 / Math.sqrt(d / heads);
        INDArray rows = rows(x, "rows");                                         // row b T + t
        INDArray q = split(project(ctx, rows, CausalSelfAttention.W_QUERY, CausalSelfAttention.B_QUERY, "q"), "qh",
                mb, steps);
        INDArray k = split(project(ctx, rows, CausalSelfAttention.W_KEY, CausalSelfAttention.B_KEY, "k"), "kh",
                mb, steps);
        INDArray v = split(project(ctx, rows, CausalSelfAttention.W_VALUE, CausalSelfAttention.B_VALUE, "v"), "vh",
                mb, steps);
        INDArray weights = ThreadedGemm.batched(q, k, scratch.get("scores", type, pairs, steps, steps), false, true);
        double[] mask = HostArrays.toDoubles(inputs[1]);
        if (AttentionSoftmax.serves(type)) {
            AttentionSoftmax.forward(weights, mask, heads, scale);              // [B, T, T]
        } else {
            weights.muli(scale).addi(maskBias(mask, mb, steps, type));
            Nd4j.exec(new SoftMax(weights, weights, 2));
        }
        INDArray context = ThreadedGemm.batched(weights, v, scratch.get("context", type, pairs, steps, d / heads),
                false, false);
        INDArray merged = merge(context, "merged", mb, steps);                    // [mb T, d]
        INDArray queryMask = inputs[1].reshape(mb * steps, 1);
        INDArray out = project(ctx, merged, CausalSelfAttention.W_OUT, CausalSelfAttention.B_OUT, "out")
                .muliColumnVector(queryMask);
        INDArray y = scratch.get("y", type, mb, d, steps).assign(out.reshape(mb, steps, d).permute(0, 2, 1));
        return new HostResult<>(y, new Saved(rows, q, k, v, weights, merged, queryMask), Map.of());
    }

    @Override
    public INDArray[] backward(HostContext ctx, INDArray[] inputs, Saved saved, INDArray outputGradient) {
        INDArray x = inputs[0];
        DataType type = x.dataType();
        int mb = (int) x.size(0);
        int d = (int) x.size(1);
        int steps = (int) x.size(2);
        double scale = 1.0 / Math.sqrt(d / heads);
        INDArray dOut = rows(outputGradient, "dOut").muliColumnVector(saved.queryMask());
        INDArray dMerged = backProject(ctx, saved.merged(), dOut, CausalSelfAttention.W_OUT,
                CausalSelfAttention.B_OUT, "dMerged");
        INDArray dContext = split(dMerged, "dContext", mb, steps);               // [B, T, dh]
        INDArray a = saved.weights();
        INDArray dv = ThreadedGemm.batched(a, dContext, scratch.get("dv", type, dContext.shape()), true, false);
        INDArray ds = ThreadedGemm.batched(dContext, saved.v(), scratch.get("ds", type, a.shape()), false, true);
        if (AttentionSoftmax.serves(type)) {
            AttentionSoftmax.backward(a, ds, scale);
        } else {
            INDArray rowDot = scratch.get("dsTmp", type, a.shape()).assign(ds).muli(a).sum(true, 2);
            ds.subi(rowDot).muli(a).muli(scale);                                 // a (da - rowsum(a da)) / sqrt dh
        }
        INDArray dq = ThreadedGemm.batched(ds, saved.k(), scratch.get("dq", type, dContext.shape()), false, false);
        INDArray dk = ThreadedGemm.batched(ds, saved.q(), scratch.get("dk", type, dContext.shape()), true, false);
        INDArray rows = saved.rows();
        INDArray dx = backProject(ctx, rows, merge(dq, "dqRows", mb, steps), CausalSelfAttention.W_QUERY,
                CausalSelfAttention.B_QUERY, "dx");
        dx.addi(backProject(ctx, rows, merge(dk, "dkRows", mb, steps), CausalSelfAttention.W_KEY,
                CausalSelfAttention.B_KEY, "dxk"));
        dx.addi(backProject(ctx, rows, merge(dv, "dvRows", mb, steps), CausalSelfAttention.W_VALUE,
                CausalSelfAttention.B_VALUE, "dxv"));
        return new INDArray[] {dx.reshape(mb, steps, d).permute(0, 2, 1).dup('c')};
    }

    /** {@code [mb, d, T]} as rows {@code [mb T, d]} (row b T + t), in the scratch array {@code name}. */
    private INDArray rows(INDArray x, String name) {
        long mb = x.size(0);
        long d = x.size(1);
        long steps = x.size(2);
        return scratch.get(name, x.dataType(), mb, steps, d).assign(x.permute(0, 2, 1)).reshape(mb * steps, d);
    }

    /** Rows {@code [mb T, h dh]} to per-pair blocks {@code [mb h, T, dh]}, in the scratch array {@code name}. */
    private INDArray split(INDArray rows, String name, int mb, int steps) {
        long dh = rows.size(1) / heads;
        return scratch.get(name, rows.dataType(), mb, heads, steps, dh)
                .assign(rows.reshape(mb, steps, heads, dh).permute(0, 2, 1, 3)).reshape((long) mb * heads, steps, dh);
    }

    /** The inverse of {@link #split}. */
    private INDArray merge(INDArray blocks, String name, int mb, int steps) {
        long dh = blocks.size(2);
        return scratch.get(name, blocks.dataType(), mb, steps, heads, dh)
                .assign(blocks.reshape(mb, heads, steps, dh).permute(0, 2, 1, 3)).reshape((long) mb * steps,
                        heads * dh);
    }

    /**
     * {@code [mb h, T, T]}: 0 where query t may see key u (u &lt;= t, u real), {@link CausalSelfAttention#MASKED_SCORE}
     * elsewhere; all 0 for a masked query.
     */
    private INDArray maskBias(double[] mask, int mb, int steps, DataType type) {
        INDArray cached = scratch.get("maskBias", type, (long) mb * heads, steps, steps);
        if (java.util.Arrays.equals(mask, biasMask) && cached == biasArray) {
            return cached;                                     // same mask as the last pass: most passes of a run
        }
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
        biasMask = mask;
        boolean direct = type == DataType.FLOAT || type == DataType.DOUBLE;
        biasArray = direct ? HostArrays.copyInto(bias, cached) : cached.assign(HostArrays.fromDoubles(bias, type,
                cached.shape()));                                                  // FLOAT16, BFLOAT16: a cast copy
        return biasArray;
    }

    /** {@code rows W [+ b]}, in the scratch array {@code name}. */
    private INDArray project(HostContext ctx, INDArray rows, String weight, String bias, String name) {
        INDArray w = ctx.param(weight);
        INDArray y = gemm(rows, w, scratch.get(name, rows.dataType(), rows.size(0), w.size(1)), false, false,
                1.0, 0.0);
        return hasBias ? y.addiRowVector(ctx.param(bias)) : y;
    }

    /** Writes the gradients of {@code rows W [+ b]} from {@code dy}; returns {@code dy W^T} (scratch {@code name}). */
    private INDArray backProject(HostContext ctx, INDArray rows, INDArray dy, String weight, String bias,
                                 String name) {
        INDArray w = ctx.param(weight);
        ctx.gradient(weight).assign(gemm(rows, dy, scratch.get("g" + name, dy.dataType(), w.shape()), true,
                false, 1.0, 0.0));
        if (hasBias) {
            ctx.gradient(bias).assign(ThreadedGemm.columnSums(dy));
        }
        return gemm(dy, w, scratch.get(name, dy.dataType(), dy.size(0), w.size(0)), false, true, 1.0, 0.0);
    }
}
