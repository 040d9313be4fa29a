package io.github.dl4jmoe.experts;

import static io.github.dl4jmoe.host.ThreadedGemm.gemm;

import io.github.dl4jmoe.host.ScratchArrays;
import io.github.dl4jmoe.host.ThreadedGemm;
import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One feed-forward block on rows, eagerly, with its backward pass: the unit a dense layer, a shared expert and every
 * routed expert are made of. Products are written into arrays this instance reuses from pass to pass (a fresh
 * off-heap array costs more than the product written into it); one instance per block.
 * <pre>
 *   up = x W_up [+ b_up]          gate = x W_gate [+ b_gate] (gated activations)      [m, h]
 *   hidden = act(up [, gate])                                                         [m, h]
 *   y = hidden W_down [+ b_down]                                                      [m, nOut]
 * </pre>
 */
public final class FeedForwardPass {

    /** Every array of a pass: reused from pass to pass, so the block allocates nothing large per step. */
    private final ScratchArrays scratch = new ScratchArrays();

    /**
     * A block's weights: {@code up}, {@code gate} {@code [d, h]}, {@code down} {@code [h, nOut]}, biases
     * {@code [1, h]} and {@code [1, nOut]}; the gate and the biases may be null.
     */
    public record Weights(INDArray up, INDArray gate, INDArray down, INDArray upBias, INDArray gateBias,
                          INDArray downBias) {

        /** A block without biases. */
        public static Weights of(INDArray up, INDArray gate, INDArray down) {
            return new Weights(up, gate, down, null, null, null);
        }
    }

    /**
     * What the backward pass needs of a forward pass, and its output {@code y}. The arrays are this instance's and
     * valid until its next forward pass.
     */
    public record Forward(INDArray x, INDArray up, INDArray gate, INDArray hidden, INDArray aux, INDArray output) {
    }

    /**
     * The gradients of a pass: of the input rows and of each weight (null where the weight is null); this instance's
     * arrays, valid until its next backward pass.
     */
    public record Gradients(INDArray input, INDArray up, INDArray gate, INDArray down, INDArray upBias,
                            INDArray gateBias, INDArray downBias) {
    }

    /**
     * @param x rows {@code [m, d]}
     */
    public Forward forward(Weights w, HiddenActivation activation, INDArray x) {
        DataType type = x.dataType();
        long m = x.size(0);
        long h = w.up().size(1);
        INDArray up = affine(x, w.up(), w.upBias(), scratch.rows("up", type, m, h));
        INDArray gate = activation.isGated() ? affine(x, w.gate(), w.gateBias(), scratch.rows("gate", type, m, h))
                : null;
        INDArray hidden = scratch.rows("hidden", type, m, h);
        INDArray aux = scratch.rows("aux", type, m, h);
        activation.forward(up, gate, hidden, aux);
        INDArray out = affine(hidden, w.down(), w.downBias(), scratch.rows("out", type, m, w.down().size(1)));
        return new Forward(x, up, gate, hidden, aux, out);
    }

    /**
     * @param dOutput dL/dy, {@code [m, nOut]}
     */
    public Gradients backward(Weights w, HiddenActivation activation, Forward f, INDArray dOutput) {
        DataType type = dOutput.dataType();
        long m = dOutput.size(0);
        long h = w.up().size(1);
        INDArray dDown = gemm(f.hidden(), dOutput, scratch.get("dDown", type, w.down().shape()), true, false,
                1.0, 0.0);
        INDArray dHidden = gemm(dOutput, w.down(), scratch.rows("dHidden", type, m, h), false, true, 1.0, 0.0);
        INDArray dUpPre = scratch.rows("dUpPre", type, m, h);
        INDArray dGatePre = activation.isGated() ? scratch.rows("dGatePre", type, m, h) : null;
        activation.backward(f.up(), f.gate(), f.aux(), dHidden, dUpPre, dGatePre, scratch.rows("tmp", type, m, h));
        INDArray dUp = gemm(f.x(), dUpPre, scratch.get("dUp", type, w.up().shape()), true, false, 1.0, 0.0);
        INDArray dx = gemm(dUpPre, w.up(), scratch.rows("dx", type, m, w.up().size(0)), false, true, 1.0, 0.0);
        INDArray dGate = null;
        if (dGatePre != null) {
            dGate = gemm(f.x(), dGatePre, scratch.get("dGate", type, w.gate().shape()), true, false, 1.0, 0.0);
            gemm(dGatePre, w.gate(), dx, false, true, 1.0, 1.0);
        }
        return new Gradients(dx, dUp, dGate, dDown, biasGradient(w.upBias(), dUpPre),
                biasGradient(w.gateBias(), dGatePre), biasGradient(w.downBias(), dOutput));
    }

    private static INDArray affine(INDArray x, INDArray w, INDArray bias, INDArray out) {
        gemm(x, w, out, false, false, 1.0, 0.0);
        return bias == null ? out : out.addiRowVector(bias);
    }

    private static INDArray biasGradient(INDArray bias, INDArray dPre) {
        return bias == null ? null : ThreadedGemm.columnSums(dPre);
    }
}
