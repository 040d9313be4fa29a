package io.github.dl4jmoe.layers;

import java.util.Map;
import java.util.Objects;

import io.github.dl4jmoe.experts.DenseFunction;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import io.github.dl4jmoe.runtime.LayerGraph;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.weights.WeightInitUtil;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Dense feed-forward block {@code y = act(x W_up + b_up) W_down + b_down}, or with a gated activation
 * {@code y = (act(x W_gate + b_gate) * (x W_up + b_up)) W_down + b_down}: nIn -> dFf -> nOut.
 *
 * <p>The dense baseline of the benchmarks and the source network of upcycling. Input {@code [mb, nIn]} or
 * {@code [mb, nIn, T]} with an optional time-step mask.
 *
 * <pre>
 * MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
 *     .list()
 *     .layer(new DenseFeedForward.Builder().nIn(256).dFf(1024).activation(FfnActivation.SWIGLU).build())
 *     ...
 * </pre>
 */
public class DenseFeedForward extends BaseMoeLayer {

    public static final String W_UP = "wUp";
    public static final String W_GATE = "wGate";
    public static final String W_DOWN = "wDown";
    public static final String B_UP = "bUp";
    public static final String B_GATE = "bGate";
    public static final String B_DOWN = "bDown";

    public static final FfnActivation DEFAULT_ACTIVATION = FfnActivation.GELU;
    public static final boolean DEFAULT_HAS_BIAS = true;

    private long dFf;
    private FfnActivation activation = DEFAULT_ACTIVATION;
    private boolean hasBias = DEFAULT_HAS_BIAS;

    protected DenseFeedForward(Builder builder) {
        super(builder);
        this.dFf = builder.dFf;
        this.activation = builder.activation;
        this.hasBias = builder.hasBias;
        validate();
    }

    /** For Jackson. */
    protected DenseFeedForward() {
    }

    @Override
    public void validate() {
        validateWidths();
        require(dFf > 0, "dFf", dFf, "must be positive", "try dFf(4 * nIn), or dFf(8 * nIn / 3) for SwiGLU");
        require(activation != null, "activation", null, "must be set",
                "use one of " + java.util.Arrays.toString(FfnActivation.values()));
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addWeightParam(W_UP, nIn, dFf);
        if (activation.isGated()) {
            params.addWeightParam(W_GATE, nIn, dFf);
        }
        params.addWeightParam(W_DOWN, dFf, nOut);
        if (hasBias) {
            params.addBiasParam(B_UP, 1, dFf);
            if (activation.isGated()) {
                params.addBiasParam(B_GATE, 1, dFf);
            }
            params.addBiasParam(B_DOWN, 1, nOut);
        }
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        for (Map.Entry<String, INDArray> e : params.entrySet()) {
            INDArray p = e.getValue();
            if (getLayerParams().isBiasParam(e.getKey())) {
                p.assign(0);
            } else {
                long fanIn = p.size(0);
                long fanOut = p.size(1);
                WeightInitUtil.initWeights(fanIn, fanOut, p.shape(), weightInit, null, 'c', p);
            }
        }
    }

    @Override
    public SDVariable defineTokens(LayerGraph g) {
        SameDiff sd = g.sd();
        SDVariable x = g.input();                                       // [n, nIn]
        SDVariable up = affine(g, x, W_UP, B_UP);                       // [n, dFf]
        SDVariable gate = activation.isGated() ? affine(g, x, W_GATE, B_GATE) : null;
        SDVariable hidden = activation.apply(sd, up, gate);             // [n, dFf]
        return affine(g, hidden, W_DOWN, B_DOWN);                       // [n, nOut]
    }

    @Override
    public HostFunction<?> eagerFunction() {
        boolean gated = activation.isGated();
        return new DenseFunction(new DenseFunction.Keys(W_UP, gated ? W_GATE : null, W_DOWN, hasBias ? B_UP : null,
                hasBias && gated ? B_GATE : null, hasBias ? B_DOWN : null), activation.function());
    }

    private SDVariable affine(LayerGraph g, SDVariable x, String weightKey, String biasKey) {
        SDVariable y = x.mmul(g.param(weightKey));
        return hasBias ? y.add(g.param(biasKey)) : y;
    }

    public long getDFf() {
        return dFf;
    }

    public void setDFf(long dFf) {
        this.dFf = dFf;
    }

    public FfnActivation getActivation() {
        return activation;
    }

    public void setActivation(FfnActivation activation) {
        this.activation = activation;
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
        DenseFeedForward that = (DenseFeedForward) o;
        return dFf == that.dFf && activation == that.activation && hasBias == that.hasBias;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), dFf, activation, hasBias);
    }

    /** Builder; nOut defaults to nIn. */
    @SuppressWarnings("unchecked") // DL4J declares Layer.Builder#build() as <E extends Layer> E build()
    public static class Builder extends BaseMoeLayer.Builder<Builder> {
        private long dFf;
        private FfnActivation activation = DEFAULT_ACTIVATION;
        private boolean hasBias = DEFAULT_HAS_BIAS;

        /** Hidden (intermediate) width. */
        public Builder dFf(long dFf) {
            this.dFf = dFf;
            return this;
        }

        /** Hidden activation; default GELU. */
        public Builder activation(FfnActivation activation) {
            this.activation = activation;
            return this;
        }

        /** Whether the projections have biases; default true. */
        public Builder hasBias(boolean hasBias) {
            this.hasBias = hasBias;
            return this;
        }

        @Override
        public DenseFeedForward build() {
            return new DenseFeedForward(this);
        }
    }
}
