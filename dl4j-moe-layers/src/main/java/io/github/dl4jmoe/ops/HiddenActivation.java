package io.github.dl4jmoe.ops;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The hidden activations of feed-forward blocks and experts, as SameDiff expressions (the graph path) and on arrays
 * with their derivatives (the eager path). Users choose one by its name in
 * {@code io.github.dl4jmoe.layers.FfnActivation}; the computation lives here, once, for every layer and expert kind.
 * The gated variants are GLUs (Shazeer 2020, "GLU Variants Improve Transformer"):
 * {@code h = act(x W_gate) * (x W_up)}, with an extra gate projection.
 */
public enum HiddenActivation {
    RELU(false),
    /** Exact GELU, {@code x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))}; M2.1's gelu op is an approximation. */
    GELU(false),
    SILU(false),
    TANH(false),
    /** {@code silu(x W_gate) * (x W_up)}. */
    SWIGLU(true),
    /** {@code gelu(x W_gate) * (x W_up)}, exact GELU. */
    GEGLU(true);

    private static final double SQRT_HALF = Math.sqrt(0.5);
    private static final double INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

    private final boolean gated;

    HiddenActivation(boolean gated) {
        this.gated = gated;
    }

    /** Whether the block has a gate projection besides the up projection. */
    public boolean isGated() {
        return gated;
    }

    /**
     * The hidden activation.
     *
     * @param up   {@code x W_up (+ b_up)}
     * @param gate {@code x W_gate (+ b_gate)} for gated variants, ignored (may be null) otherwise
     */
    public SDVariable apply(SameDiff sd, SDVariable up, SDVariable gate) {
        return switch (this) {
            case RELU -> sd.nn.relu(up, 0.0);
            case GELU -> gelu(up);
            case SILU -> sd.nn.swish(up);
            case TANH -> sd.math.tanh(up);
            case SWIGLU -> sd.nn.swish(gate).mul(up);
            case GEGLU -> gelu(gate).mul(up);
        };
    }

    private static SDVariable gelu(SDVariable x) {
        SameDiff sd = x.getSameDiff();
        return x.mul(sd.math.erf(x.mul(SQRT_HALF)).add(1.0)).mul(0.5);
    }

    /**
     * The activation on arrays, for the eager path: a new array {@code act(up[, gate])} of {@code up}'s shape.
     *
     * @param gate the gate projection for gated variants, ignored (may be null) otherwise
     */
    public INDArray forward(INDArray up, INDArray gate) {
        return switch (this) {
            case RELU -> Transforms.relu(up, true);
            case GELU -> up.mul(cdf(up));
            case SILU -> up.mul(Transforms.sigmoid(up, true));
            case TANH -> Transforms.tanh(up, true);
            case SWIGLU -> gate.mul(Transforms.sigmoid(gate, true)).muli(up);
            case GEGLU -> gate.mul(cdf(gate)).muli(up);
        };
    }

    /**
     * The backward pass of {@link #forward}: {@code {dL/d(up), dL/d(gate)}} from {@code dL/d(hidden)}; the second is
     * null for variants without a gate.
     */
    public INDArray[] backward(INDArray up, INDArray gate, INDArray dHidden) {
        return switch (this) {
            case RELU -> new INDArray[] {dHidden.mul(up.gt(0.0).castTo(up.dataType())), null};
            case GELU -> new INDArray[] {dHidden.mul(geluSlope(up)), null};
            case SILU -> new INDArray[] {dHidden.mul(siluSlope(up)), null};
            case TANH -> {
                INDArray t = Transforms.tanh(up, true);
                yield new INDArray[] {dHidden.mul(t.muli(t).rsubi(1.0)), null};
            }
            case SWIGLU -> new INDArray[] {dHidden.mul(gate.mul(Transforms.sigmoid(gate, true))),
                    dHidden.mul(up).muli(siluSlope(gate))};
            case GEGLU -> new INDArray[] {dHidden.mul(gate.mul(cdf(gate))), dHidden.mul(up).muli(geluSlope(gate))};
        };
    }

    /** {@code Phi(x) = 0.5 (1 + erf(x / sqrt 2))}, a new array. */
    private static INDArray cdf(INDArray x) {
        INDArray e = x.mul(SQRT_HALF);
        Nd4j.exec(new Erf(e, e));
        return e.addi(1.0).muli(0.5);
    }

    /** d/dx of {@code x Phi(x)}: {@code Phi(x) + x phi(x)}. */
    private static INDArray geluSlope(INDArray x) {
        INDArray density = Transforms.exp(x.mul(x).muli(-0.5), false).muli(INV_SQRT_2PI).muli(x);
        return cdf(x).addi(density);
    }

    /** d/dx of {@code x sigmoid(x)}: {@code s (1 + x (1 - s))}. */
    private static INDArray siluSlope(INDArray x) {
        INDArray s = Transforms.sigmoid(x, true);
        return s.rsub(1.0).muli(x).addi(1.0).muli(s);
    }
}
