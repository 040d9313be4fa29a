package io.github.dl4jmoe.ops;

import io.github.dl4jmoe.host.FloatCdf;
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
     * The activation on arrays, for the eager path: writes {@code act(up[, gate])} into {@code hidden} and the inner
     * value its derivative needs into {@code aux} (Phi, sigmoid or tanh of the activated input; unused by RELU), which
     * {@link #backward} takes back; allocates nothing of that size.
     *
     * @param gate the gate projection for gated variants, ignored (may be null) otherwise
     */
    public void forward(INDArray up, INDArray gate, INDArray hidden, INDArray aux) {
        switch (this) {
            case RELU -> Transforms.relu(hidden.assign(up), false);
            case GELU -> up.mul(cdf(up, aux), hidden);
            case SILU -> up.mul(sigmoid(up, aux), hidden);
            case TANH -> hidden.assign(Transforms.tanh(aux.assign(up), false));
            case SWIGLU -> gate.mul(sigmoid(gate, aux), hidden).muli(up);
            case GEGLU -> gate.mul(cdf(gate, aux), hidden).muli(up);
        }
    }

    /**
     * The backward pass of {@link #forward}: writes dL/d(up) into {@code dUp} and, for gated variants, dL/d(gate) into
     * {@code dGate}, from dL/d(hidden); {@code aux} is what the forward pass wrote there, {@code tmp} is scratch of the
     * same shape.
     */
    public void backward(INDArray up, INDArray gate, INDArray aux, INDArray dHidden, INDArray dUp, INDArray dGate,
                         INDArray tmp) {
        switch (this) {
            case RELU -> dUp.assign(dHidden).muli(up.gt(0.0).castTo(up.dataType()));
            case GELU -> dHidden.mul(geluSlope(up, aux, tmp), dUp);
            case SILU -> dHidden.mul(siluSlope(up, aux, tmp), dUp);
            case TANH -> dHidden.mul(aux.mul(aux, tmp).rsubi(1.0), dUp);
            case SWIGLU, GEGLU -> {
                dHidden.mul(gate.mul(aux, tmp), dUp);                           // dL/dup = dh * act(gate)
                INDArray slope = this == SWIGLU ? siluSlope(gate, aux, tmp) : geluSlope(gate, aux, tmp);
                dHidden.mul(up, dGate).muli(slope);
            }
        }
    }

    /**
     * {@code Phi(x) = 0.5 (1 + erf(x / sqrt 2))}, written into and returning {@code out}: in Java for FLOAT matrices on
     * the CPU backend ({@link FloatCdf}, float rounding), with ND4J's erf otherwise.
     */
    private static INDArray cdf(INDArray x, INDArray out) {
        if (FloatCdf.serves(x, out)) {
            FloatCdf.apply(x, out);
            return out;
        }
        out.assign(x).muli(SQRT_HALF);
        Nd4j.exec(new Erf(out, out));
        return out.addi(1.0).muli(0.5);
    }

    private static INDArray sigmoid(INDArray x, INDArray out) {
        return Transforms.sigmoid(out.assign(x), false);
    }

    /** d/dx of {@code x Phi(x)}: {@code Phi(x) + x phi(x)}, into {@code out}, from {@code cdf = Phi(x)}. */
    private static INDArray geluSlope(INDArray x, INDArray cdf, INDArray out) {
        Transforms.exp(x.mul(x, out).muli(-0.5), false).muli(INV_SQRT_2PI).muli(x);
        return out.addi(cdf);
    }

    /** d/dx of {@code x sigmoid(x)}: {@code s (1 + x (1 - s))}, into {@code out}, from {@code s = sigmoid(x)}. */
    private static INDArray siluSlope(INDArray x, INDArray s, INDArray out) {
        return s.rsub(1.0, out).muli(x).addi(1.0).muli(s);
    }
}
