package io.github.dl4jmoe.experts;

import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One feed-forward block on rows, eagerly, with its backward pass: the unit a dense layer, a shared expert and every
 * routed expert are made of.
 * <pre>
 *   up = x W_up [+ b_up]          gate = x W_gate [+ b_gate] (gated activations)      [m, h]
 *   hidden = act(up [, gate])                                                         [m, h]
 *   y = hidden W_down [+ b_down]                                                      [m, nOut]
 * </pre>
 */
public final class FeedForwardPass {

    private FeedForwardPass() {
    }

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

    /** What the backward pass needs of a forward pass, and its output {@code y}. */
    public record Forward(INDArray x, INDArray up, INDArray gate, INDArray hidden, INDArray output) {
    }

    /** The gradients of a pass: of the input rows and of each weight (null where the weight is null). */
    public record Gradients(INDArray input, INDArray up, INDArray gate, INDArray down, INDArray upBias,
                            INDArray gateBias, INDArray downBias) {
    }

    /**
     * @param x rows {@code [m, d]}
     */
    public static Forward forward(Weights w, HiddenActivation activation, INDArray x) {
        INDArray up = affine(x, w.up(), w.upBias());
        INDArray gate = activation.isGated() ? affine(x, w.gate(), w.gateBias()) : null;
        INDArray hidden = activation.forward(up, gate);
        return new Forward(x, up, gate, hidden, affine(hidden, w.down(), w.downBias()));
    }

    /**
     * @param dOutput dL/dy, {@code [m, nOut]}
     */
    public static Gradients backward(Weights w, HiddenActivation activation, Forward f, INDArray dOutput) {
        INDArray dDown = f.hidden().transpose().mmul(dOutput);
        INDArray dHidden = dOutput.mmul(w.down().transpose());
        INDArray[] dPre = activation.backward(f.up(), f.gate(), dHidden);
        INDArray dUp = f.x().transpose().mmul(dPre[0]);
        INDArray dx = dPre[0].mmul(w.up().transpose());
        INDArray dGate = null;
        if (dPre[1] != null) {
            dGate = f.x().transpose().mmul(dPre[1]);
            dx.addi(dPre[1].mmul(w.gate().transpose()));
        }
        return new Gradients(dx, dUp, dGate, dDown, biasGradient(w.upBias(), dPre[0]),
                biasGradient(w.gateBias(), dPre[1]), biasGradient(w.downBias(), dOutput));
    }

    private static INDArray affine(INDArray x, INDArray w, INDArray bias) {
        INDArray y = x.mmul(w);
        return bias == null ? y : y.addiRowVector(bias);
    }

    private static INDArray biasGradient(INDArray bias, INDArray dPre) {
        return bias == null ? null : dPre.sum(true, 0);
    }
}
