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
     * The activation on arrays, for the eager path: writes {@code act(up[, gate])} into {@code hidden}, using
     * {@code tmp} (same shape) as scratch; allocates nothing of that size.
     *
     * @param gate the gate projection for gated variants, ignored (may be null) otherwise
     */
    public void forward(INDArray up, INDArray gate, INDArray hidden, INDArray tmp) {
        switch (this) {
            case RELU -> Transforms.relu(hidden.assign(up), false);
            case GELU -> hidden.assign(up).muli(cdf(up, tmp));
            case SILU -> hidden.assign(up).muli(sigmoid(up, tmp));
            case TANH -> Transforms.tanh(hidden.assign(up), false);
            case SWIGLU -> hidden.assign(gate).muli(sigmoid(gate, tmp)).muli(up);
            case GEGLU -> hidden.assign(gate).muli(cdf(gate, tmp)).muli(up);
        }
    }

    /**
     * The backward pass of {@link #forward}: writes dL/d(up) into {@code dUp} and, for gated variants, dL/d(gate) into
     * {@code dGate}, from dL/d(hidden); {@code tmp} and {@code tmp2} are scratch of the same shape.
     */
    public void backward(INDArray up, INDArray gate, INDArray dHidden, INDArray dUp, INDArray dGate, INDArray tmp,
                         INDArray tmp2) {
        switch (this) {
            case RELU -> dUp.assign(dHidden).muli(up.gt(0.0).castTo(up.dataType()));
            case GELU -> dUp.assign(dHidden).muli(geluSlope(up, tmp, tmp2));
            case SILU -> dUp.assign(dHidden).muli(siluSlope(up, tmp, tmp2));
            case TANH -> {
                Transforms.tanh(tmp.assign(up), false);
                dUp.assign(dHidden).muli(tmp.muli(tmp).rsubi(1.0));
            }
            case SWIGLU -> {
                dUp.assign(dHidden).muli(sigmoid(gate, tmp).muli(gate));
                dGate.assign(dHidden).muli(up).muli(siluSlope(gate, tmp, tmp2));
            }
            case GEGLU -> {
                dUp.assign(dHidden).muli(cdf(gate, tmp).muli(gate));
                dGate.assign(dHidden).muli(up).muli(geluSlope(gate, tmp, tmp2));
            }
        }
    }

    /** {@code Phi(x) = 0.5 (1 + erf(x / sqrt 2))}, written into and returning {@code out}. */
    private static INDArray cdf(INDArray x, INDArray out) {
        out.assign(x).muli(SQRT_HALF);
        Nd4j.exec(new Erf(out, out));
        return out.addi(1.0).muli(0.5);
    }

    private static INDArray sigmoid(INDArray x, INDArray out) {
        return Transforms.sigmoid(out.assign(x), false);
    }

    /** d/dx of {@code x Phi(x)}: {@code Phi(x) + x phi(x)}, into {@code out}. */
    private static INDArray geluSlope(INDArray x, INDArray out, INDArray tmp) {
        Transforms.exp(tmp.assign(x).muli(x).muli(-0.5), false).muli(INV_SQRT_2PI).muli(x);
        return cdf(x, out).addi(tmp);
    }

    /** d/dx of {@code x sigmoid(x)}: {@code s (1 + x (1 - s))}, into {@code out}. */
    private static INDArray siluSlope(INDArray x, INDArray out, INDArray tmp) {
        INDArray s = sigmoid(x, out);
        tmp.assign(s).rsubi(1.0).muli(x).addi(1.0);
        return s.muli(tmp);
    }
}
