package io.github.dl4jmoe.ops;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * The hidden activations of feed-forward blocks and experts, as SameDiff expressions. Users choose one by its name in
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
        return x.mul(sd.math.erf(x.mul(Math.sqrt(0.5))).add(1.0)).mul(0.5);
    }
}
