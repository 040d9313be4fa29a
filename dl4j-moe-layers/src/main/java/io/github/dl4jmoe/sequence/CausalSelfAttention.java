package io.github.dl4jmoe.sequence;

import java.util.Map;
import java.util.Objects;

import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.ops.SdOps;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.weights.WeightInitUtil;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Multi-head causal self-attention (Vaswani et al. 2017, "Attention Is All You Need", eq. 1 and section 3.2.2, with
 * the decoder's mask): position t attends to positions {@code <= t} that the time-step mask marks as real.
 *
 * <pre>
 * q, k, v = x Wq + bq, x Wk + bk, x Wv + bv           each [mb, T, d], split into h heads of dh = d / h
 * a_i     = softmax(q_i k_i^T / sqrt(dh) + m)        [mb, h, T, T], m = 0 where key s &lt;= query t and s is real,
 *                                                     -1e9 elsewhere
 * y       = concat_i(a_i v_i) Wo + bo                [mb, T, d]
 * </pre>
 *
 * <p>Input and output are {@code [mb, d, T]} (NCW); T may change from call to call, the causal mask is built in the
 * graph. Masked keys get no weight; outputs at masked query steps are zero and the mask is passed on unchanged. Pure
 * attention: no residual connection, normalisation or dropout (compose those in the network).
 *
 * <pre>
 * .addLayer("attn", new CausalSelfAttention.Builder().nIn(64).nHeads(4).build(), "ln1")
 * </pre>
 */
public class CausalSelfAttention extends BaseSequenceLayer {

    public static final String W_QUERY = "wq";
    public static final String W_KEY = "wk";
    public static final String W_VALUE = "wv";
    public static final String W_OUT = "wo";
    public static final String B_QUERY = "bq";
    /**
     * Key bias: it adds the same {@code q_t . bk} to every score of query t, which the softmax ignores, so its gradient
     * is always zero. Kept (with {@code hasBias}) so that weights of conventional attention layers map one to one.
     */
    public static final String B_KEY = "bk";
    public static final String B_VALUE = "bv";
    public static final String B_OUT = "bo";

    public static final int DEFAULT_N_HEADS = 1;
    public static final boolean DEFAULT_HAS_BIAS = true;

    /**
     * Added to the scores of forbidden (future or padded) keys: far below any real score, so they get weight
     * exactly 0 after the softmax, yet finite, so a row without any allowed key stays finite (no NaN from -inf).
     */
    static final double MASKED_SCORE = -1e9;

    private int nHeads = DEFAULT_N_HEADS;
    private boolean hasBias = DEFAULT_HAS_BIAS;

    protected CausalSelfAttention(Builder builder) {
        super(builder);
        this.nHeads = builder.nHeads;
        this.hasBias = builder.hasBias;
        validate();
    }

    /** For Jackson. */
    protected CausalSelfAttention() {
    }

    @Override
    public void validate() {
        validateWidth();
        require(nHeads > 0, "nHeads", nHeads, "must be positive", "try nHeads(1), or nHeads(nIn / 64) for wide layers");
        require(nIn == 0 || nIn % nHeads == 0, "nHeads", nHeads, "must divide nIn=" + nIn,
                "use a divisor of nIn such as nHeads(" + largestDivisorAtMost(nIn, nHeads) + ")");
    }

    /** The largest head count not above {@code max} that divides {@code n} (at least 1): the fix to suggest. */
    public static long largestDivisorAtMost(long n, long max) {
        for (long k = Math.min(n, max); k > 1; k--) {
            if (n % k == 0) {
                return k;
            }
        }
        return 1;
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        for (String w : new String[] {W_QUERY, W_KEY, W_VALUE, W_OUT}) {
            params.addWeightParam(w, nIn, nIn);
        }
        if (hasBias) {
            for (String b : new String[] {B_QUERY, B_KEY, B_VALUE, B_OUT}) {
                params.addBiasParam(b, 1, nIn);
            }
        }
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        for (Map.Entry<String, INDArray> e : params.entrySet()) {
            INDArray p = e.getValue();
            if (getLayerParams().isBiasParam(e.getKey())) {
                p.assign(0);
            } else {
                WeightInitUtil.initWeights(nIn, nIn, p.shape(), weightInit, null, 'c', p);
            }
        }
    }

    /**
     * Axis legend: mb minibatch, T time steps, d = nIn, h heads, dh = d / h. The heads are batched as
     * {@code [mb*h, T, dh]} for rank-3 {@code mmul} (M2.1: {@code batchMmul} crashes and {@code tensorMmul} has no
     * working backprop); shapes that contain mb or T are computed in the graph, so any T works.
     */
    @Override
    public HostFunction<?> eagerFunction() {
        return new AttentionFunction(nHeads, hasBias);
    }

    @Override
    protected SDVariable defineSequence(SameDiff sd, SDVariable x, Map<String, SDVariable> params, SDVariable mask) {
        long dh = nIn / nHeads;
        SDVariable xt = x.permute(0, 2, 1);                                    // [mb, T, d]
        SDVariable shapeBTD = sd.shape(xt);                                    // (mb, T, d)
        SDVariable t = sd.sizeAt(x, 2);
        SDVariable rows = sd.reshape(xt, -1, nIn);                             // [mb*T, d]
        // shapes that contain T are computed in the graph; -1 stands for mb or mb*h
        SDVariable byStepAndHead = shape(sd, -1, t, nHeads, dh);               // [mb, T, h, dh]
        SDVariable byHeadBatch = shape(sd, -1, t, dh);                         // [mb*h, T, dh]
        SDVariable scoresByHead = shape(sd, -1, nHeads, t, t);                 // [mb, h, T, T]
        SDVariable scoresByHeadBatch = shape(sd, -1, t, t);                    // [mb*h, T, T]

        SDVariable q = heads(sd, project(rows, params, W_QUERY, B_QUERY), byStepAndHead, byHeadBatch);
        SDVariable k = heads(sd, project(rows, params, W_KEY, B_KEY), byStepAndHead, byHeadBatch);
        SDVariable v = heads(sd, project(rows, params, W_VALUE, B_VALUE), byStepAndHead, byHeadBatch);

        SDVariable scores = q.mmul(k.permute(0, 2, 1)).mul(1.0 / Math.sqrt(dh));        // [mb*h, T, T]
        SDVariable scores4 = sd.reshape(scores, scoresByHead);                          // [mb, h, T, T]
        SDVariable weights = softmax(sd, scores4.add(maskBias(sd, x, mask, t)));       // [mb, h, T, T]
        SDVariable weights3 = sd.reshape(weights, scoresByHeadBatch);                   // [mb*h, T, T]

        SDVariable context = weights3.mmul(v);                                 // [mb*h, T, dh]
        SDVariable merged = sd.reshape(context, shape(sd, -1, nHeads, t, dh))  // [mb, h, T, dh]
                .permute(0, 2, 1, 3);                                          // [mb, T, h, dh]
        SDVariable out = project(sd.reshape(merged, -1, nIn), params, W_OUT, B_OUT);   // [mb*T, d]
        SDVariable queryMask = sd.expandDims(mask, 2);                         // [mb, T, 1]
        return sd.reshape(out, shapeBTD).mul(queryMask).permute(0, 2, 1);      // [mb, d, T]
    }

    /**
     * Additive mask {@code [mb, 1, T, T]}: 0 where key s may be seen from query t (s &lt;= t and s real),
     * {@link #MASKED_SCORE} elsewhere. Built from comparisons of two ranges ({@code where} has no backprop on M2.1).
     */
    private static SDVariable maskBias(SameDiff sd, SDVariable x, SDVariable mask, SDVariable t) {
        SDVariable steps = sd.range(sd.constant(Nd4j.scalar(DataType.INT64, 0L)), t,
                sd.constant(Nd4j.scalar(DataType.INT64, 1L)), DataType.INT64);             // [T]
        SDVariable causal = sd.reshape(steps, -1, 1).gte(sd.reshape(steps, 1, -1))       // [T, T], query t >= key s
                .castTo(x.dataType());
        SDVariable keys = sd.expandDims(sd.expandDims(mask, 1), 1);                     // [mb, 1, 1, T]
        return causal.mul(keys).rsub(1.0).mul(MASKED_SCORE);                              // [mb, 1, T, T]
    }

    /**
     * Softmax over the keys (last dimension) of {@code [mb, h, T, T]}, shifted by each row's maximum first. M2.1's
     * native softmax along the last dimension of a rank-4 array returns NaN for a row whose entries are all near
     * {@link #MASKED_SCORE} (a query whose keys are all masked; seen: {@code [-1e9+0.3, -1e9-0.2, -1e9]} gives NaN,
     * the same row as a rank-2 array does not), so it evidently does not shift by the true row maximum. The shift is
     * constant per row and so does not change the result; it is taken out of the gradient (the softmax's gradient
     * with respect to it is zero).
     */
    private static SDVariable softmax(SameDiff sd, SDVariable scores) {
        SDVariable rowMax = SdOps.stopGradient(sd, scores.max(true, 3));                // [mb, h, T, 1]
        return sd.nn.softmax(scores.sub(rowMax), 3);
    }

    private SDVariable project(SDVariable rows, Map<String, SDVariable> params, String weightKey, String biasKey) {
        SDVariable y = rows.mmul(params.get(weightKey));
        return hasBias ? y.add(params.get(biasKey)) : y;
    }

    /** {@code [mb*T, d]} to {@code [mb*h, T, dh]}, head-major within each sequence. */
    private static SDVariable heads(SameDiff sd, SDVariable rows, SDVariable byStepAndHead, SDVariable byHeadBatch) {
        SDVariable split = sd.reshape(rows, byStepAndHead);                    // [mb, T, h, dh]
        return sd.reshape(split.permute(0, 2, 1, 3), byHeadBatch);             // [mb*h, T, dh]
    }

    /** A shape vector from graph sizes (INT64 scalars) and fixed sizes. */
    private static SDVariable shape(SameDiff sd, Object... sizes) {
        SDVariable[] parts = new SDVariable[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            parts[i] = sizes[i] instanceof SDVariable
                    ? (SDVariable) sizes[i]
                    : sd.constant(Nd4j.scalar(DataType.INT64, ((Number) sizes[i]).longValue()));
        }
        return sd.stack(0, parts);
    }

    public int getNHeads() {
        return nHeads;
    }

    public void setNHeads(int nHeads) {
        this.nHeads = nHeads;
    }

    public boolean isHasBias() {
        return hasBias;
    }

    public void setHasBias(boolean hasBias) {
        this.hasBias = hasBias;
    }

    @Override
    public boolean equals(Object o) {
        if (!super.equals(o)) {
            return false;
        }
        CausalSelfAttention that = (CausalSelfAttention) o;
        return nHeads == that.nHeads && hasBias == that.hasBias;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), nHeads, hasBias);
    }

    /** Builder; nIn (= d_model) may come from the network's input type. */
    @SuppressWarnings("unchecked") // DL4J declares Layer.Builder#build() as <E extends Layer> E build()
    public static class Builder extends BaseSequenceLayer.Builder<Builder> {
        private int nHeads = DEFAULT_N_HEADS;
        private boolean hasBias = DEFAULT_HAS_BIAS;

        /** Number of heads h; must divide nIn. Default 1. */
        public Builder nHeads(int nHeads) {
            this.nHeads = nHeads;
            return this;
        }

        /** Whether the four projections have biases; default true. */
        public Builder hasBias(boolean hasBias) {
            this.hasBias = hasBias;
            return this;
        }

        @Override
        public CausalSelfAttention build() {
            return new CausalSelfAttention(this);
        }
    }
}
