package io.github.dl4jmoe.layers;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * Activation of a feed-forward block (dense or expert). The gated variants are GLUs (Shazeer 2020,
 * "GLU Variants Improve Transformer"): {@code h = act(x W_gate) * (x W_up)}, with an extra gate projection.
 */
public enum FfnActivation {
    RELU(false),
    /** Exact GELU, {@code x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))} (PyTorch's default; M2.1's gelu op is an approximation). */
    GELU(false),
    SILU(false),
    TANH(false),
    /** {@code silu(x W_gate) * (x W_up)}: the SwiGLU of LLaMA, Qwen and DeepSeek experts. */
    SWIGLU(true),
    /** {@code gelu(x W_gate) * (x W_up)}, exact GELU. */
    GEGLU(true);

    private final boolean gated;

    FfnActivation(boolean gated) {
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
        switch (this) {
            case RELU:
                return sd.nn.relu(up, 0.0);
            case GELU:
                return gelu(up);
            case SILU:
                return sd.nn.swish(up);
            case TANH:
                return sd.math.tanh(up);
            case SWIGLU:
                return sd.nn.swish(gate).mul(up);
            case GEGLU:
                return gelu(gate).mul(up);
            default:
                throw new IllegalStateException("Unhandled activation " + this);
        }
    }

    private static SDVariable gelu(SDVariable x) {
        SameDiff sd = x.getSameDiff();
        return x.mul(sd.math.erf(x.mul(Math.sqrt(0.5))).add(1.0)).mul(0.5);
    }
}
