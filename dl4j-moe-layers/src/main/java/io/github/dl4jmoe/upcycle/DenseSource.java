package io.github.dl4jmoe.upcycle;

import java.util.Map;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FfnActivation;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationGELU;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.activations.impl.ActivationSwish;
import org.nd4j.linalg.activations.impl.ActivationTanH;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A dense feed-forward block to upcycle, {@code y = act(x W_gate) * (x W_up) W_down} or {@code act(x W_up) W_down}:
 * either our {@link DenseFeedForward} or a pair of DL4J {@link DenseLayer}s (d -> dFf with an activation, then
 * dFf -> d with identity), both without biases. Weights are null until {@link #withWeights} is called.
 */
record DenseSource(String description, long nIn, long dFf, long nOut, FfnActivation activation, INDArray up,
                   INDArray gate, INDArray down) {

    static DenseSource of(DenseFeedForward ffn) {
        if (ffn.isHasBias()) {
            throw new IllegalArgumentException("Upcycler: " + ffn.describe() + " has biases, which experts do not have"
                    + "; train the dense block with hasBias(false)");
        }
        return new DenseSource(ffn.describe(), ffn.getNIn(), ffn.getDFf(), ffn.getNOut(), ffn.getActivation(),
                null, null, null);
    }

    static DenseSource of(DenseLayer first, DenseLayer second) {
        String description = "DenseLayer pair (" + first.getLayerName() + ", " + second.getLayerName() + ")";
        if (first.hasBias() || second.hasBias()) {
            throw new IllegalArgumentException("Upcycler: " + description + " has biases, which experts do not have; "
                    + "build both DenseLayers with hasBias(false)");
        }
        if (!(second.getActivationFn() instanceof ActivationIdentity)) {
            throw new IllegalArgumentException("Upcycler: " + description + ": the second layer must be linear "
                    + "(Activation.IDENTITY), got " + second.getActivationFn());
        }
        if (second.getNIn() != first.getNOut()) {
            throw new IllegalArgumentException("Upcycler: " + description + " is not a pair d -> dFf -> d: widths "
                    + first.getNIn() + " -> " + first.getNOut() + ", " + second.getNIn() + " -> " + second.getNOut());
        }
        return new DenseSource(description, first.getNIn(), first.getNOut(), second.getNOut(),
                activation(first.getActivationFn(), description), null, null, null);
    }

    DenseSource withWeights(Map<String, INDArray> ffnParams) {
        return new DenseSource(description, nIn, dFf, nOut, activation, ffnParams.get(DenseFeedForward.W_UP),
                ffnParams.get(DenseFeedForward.W_GATE), ffnParams.get(DenseFeedForward.W_DOWN));
    }

    DenseSource withWeights(Map<String, INDArray> firstParams, Map<String, INDArray> secondParams) {
        return new DenseSource(description, nIn, dFf, nOut, activation,
                firstParams.get(DefaultParamInitializer.WEIGHT_KEY), null,
                secondParams.get(DefaultParamInitializer.WEIGHT_KEY));
    }

    /** DL4J's activations that our experts compute identically. DL4J's GELU is an approximation unless "precise". */
    private static FfnActivation activation(IActivation fn, String description) {
        if (fn instanceof ActivationReLU) {
            return FfnActivation.RELU;
        }
        if (fn instanceof ActivationTanH) {
            return FfnActivation.TANH;
        }
        if (fn instanceof ActivationSwish) {
            return FfnActivation.SILU;
        }
        if (fn instanceof ActivationGELU) {
            return FfnActivation.GELU;
        }
        throw new IllegalArgumentException("Upcycler: " + description + ": activation " + fn
                + " has no expert equivalent; use RELU, TANH, SWISH or GELU");
    }
}
