package io.github.dl4jmoe.layers;

import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * Activation of a feed-forward block (dense or expert), as users configure it. The gated variants are GLUs
 * (Shazeer 2020, "GLU Variants Improve Transformer"): {@code h = act(x W_gate) * (x W_up)}, with an extra gate
 * projection. Each constant names its computation in {@link HiddenActivation}, as DL4J's {@code Activation} enum
 * names an {@code IActivation}.
 */
public enum FfnActivation {
    RELU,
    /** Exact GELU, {@code x Phi(x)} (PyTorch's default; M2.1's gelu op is an approximation). */
    GELU,
    SILU,
    TANH,
    /** {@code silu(x W_gate) * (x W_up)}: the SwiGLU of LLaMA, Qwen and DeepSeek experts. */
    SWIGLU,
    /** {@code gelu(x W_gate) * (x W_up)}, exact GELU. */
    GEGLU;

    /** The computation this activation names. */
    public HiddenActivation function() {
        return HiddenActivation.valueOf(name());
    }

    /** Whether the block has a gate projection besides the up projection. */
    public boolean isGated() {
        return function().isGated();
    }

    /**
     * The hidden activation, see {@link HiddenActivation#apply}.
     *
     * @param up   {@code x W_up (+ b_up)}
     * @param gate {@code x W_gate (+ b_gate)} for gated variants, ignored (may be null) otherwise
     */
    public SDVariable apply(SameDiff sd, SDVariable up, SDVariable gate) {
        return function().apply(sd, up, gate);
    }
}
