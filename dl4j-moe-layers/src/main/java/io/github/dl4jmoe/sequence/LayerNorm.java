package io.github.dl4jmoe.sequence;

import java.util.Map;
import java.util.Objects;

import io.github.dl4jmoe.host.HostFunction;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Layer normalisation over the feature dimension (Ba, Kiros and Hinton 2016, "Layer Normalization", eq. 4), per
 * example and time step:
 *
 * <pre>
 * y = gain * (x - mean(x)) / sqrt(var(x) + eps) + bias      mean and (biased) variance over the d features
 * </pre>
 *
 * <p>Input and output {@code [mb, d]} or {@code [mb, d, T]} (NCW); {@code gain [1, d]} starts at 1 and
 * {@code bias [1, d]} at 0. Both are bias parameters in DL4J's sense, so weight regularization ({@code l2},
 * {@code weightDecay}) leaves them alone. Masked steps are normalised like any other (the mask is passed on unchanged).
 *
 * <pre>
 * .addLayer("ln1", new LayerNorm.Builder().nIn(64).build(), "pos")
 * </pre>
 */
public class LayerNorm extends BaseSequenceLayer {

    public static final String GAIN = "gain";
    public static final String BIAS = "bias";

    public static final double DEFAULT_EPS = 1e-5;
    /** A single feature would always normalise to 0; M2.1 reductions over a dimension of size 1 also fail. */
    public static final long MIN_WIDTH = 2;

    private double eps = DEFAULT_EPS;

    protected LayerNorm(Builder builder) {
        super(builder);
        this.eps = builder.eps;
        validate();
    }

    /** For Jackson. */
    protected LayerNorm() {
    }

    @Override
    public void validate() {
        validateWidth();
        require(nIn == 0 || nIn >= MIN_WIDTH, "nIn", nIn, "must be at least " + MIN_WIDTH
                + " (a single feature normalises to a constant)", "normalise a wider layer or drop the LayerNorm");
        require(eps > 0 && Double.isFinite(eps), "eps", eps, "must be positive and finite",
                "try eps(" + DEFAULT_EPS + ")");
    }

    @Override
    protected boolean acceptsFeedForward() {
        return true;
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addBiasParam(GAIN, 1, nIn);
        params.addBiasParam(BIAS, 1, nIn);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        params.get(GAIN).assign(1);
        params.get(BIAS).assign(0);
    }

    /**
     * Sequences are permuted to {@code [mb, T, d]} so that the features are the last dimension for both ranks and
     * {@code gain}/{@code bias [1, d]} broadcast over the leading ones.
     */
    @Override
    public HostFunction<?> eagerFunction() {
        return new LayerNormFunction(eps);
    }

    @Override
    protected SDVariable defineSequence(SameDiff sd, SDVariable x, Map<String, SDVariable> params, SDVariable mask) {
        long[] inputShape = x.getShape();
        boolean sequence = inputShape != null && inputShape.length == 3;
        SDVariable rows = sequence ? x.permute(0, 2, 1) : x;                 // [mb, T, d] or [mb, d]
        int features = sequence ? 2 : 1;
        SDVariable centred = rows.sub(rows.mean(true, features));
        SDVariable variance = centred.mul(centred).mean(true, features);    // [mb, T, 1] or [mb, 1]
        SDVariable normalised = centred.div(sd.math.sqrt(variance.add(eps)));
        SDVariable y = normalised.mul(params.get(GAIN)).add(params.get(BIAS));
        return sequence ? y.permute(0, 2, 1) : y;                            // same shape as x
    }

    public double getEps() {
        return eps;
    }

    public void setEps(double eps) {
        this.eps = eps;
    }

    @Override
    public boolean equals(Object o) {
        if (!super.equals(o)) {
            return false;
        }
        return Double.compare(eps, ((LayerNorm) o).eps) == 0;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), eps);
    }

    /** Builder; nIn (= d) may come from the network's input type. */
    @SuppressWarnings("unchecked") // DL4J declares Layer.Builder#build() as <E extends Layer> E build()
    public static class Builder extends BaseSequenceLayer.Builder<Builder> {
        private double eps = DEFAULT_EPS;

        /** Added to the variance before the square root; default 1e-5. */
        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        @Override
        public LayerNorm build() {
            return new LayerNorm(this);
        }
    }
}
