package io.github.dl4jmoe.host;

import java.util.Map;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Java code that computes a layer's output from graph values, with its own backward pass: for work a SameDiff graph
 * on M2.1 does badly, such as searches (product-key retrieval) or row gathers from tables too large for dense
 * gradients. A layer declares one with {@code LayerGraph.hostOutput}.
 *
 * @param <S> what a forward pass saves for the matching backward pass
 */
public interface HostFunction<S> {

    /**
     * @param inputs the values of the declared inputs for this pass
     */
    HostResult<S> forward(HostContext context, INDArray[] inputs);

    /**
     * Called once per training step, before the graph's own backward pass. It may also apply or report gradients of
     * parameters the function reads ({@link HostContext#gradient}), which the graph does not see.
     *
     * @param inputs         the values {@link #forward} received in the matching forward pass
     * @param saved          what that forward pass saved
     * @param outputGradient dL/d(output), {@code [tokens, nOut]}
     * @return dL/d(inputs[i]) for each differentiable input, of its shape
     */
    INDArray[] backward(HostContext context, INDArray[] inputs, S saved, INDArray outputGradient);

    /**
     * Training state the function keeps outside the network's parameters and DL4J's updater state (PEER's sparse
     * Adam moments), which {@code ModelSerializer} therefore does not save: a checkpoint stores these arrays beside
     * the model so that training resumes exactly. The arrays are live: copy them before the next step if needed.
     *
     * @return name to array; empty for a function without such state (the default)
     */
    default Map<String, INDArray> trainingState() {
        return Map.of();
    }

    /**
     * Puts back what {@link #trainingState()} returned, before the next training step.
     *
     * @throws IllegalArgumentException if {@code state} names arrays this function does not keep
     */
    default void restoreTrainingState(Map<String, INDArray> state) {
        if (!state.isEmpty()) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " keeps no training state, got "
                    + state.keySet());
        }
    }
}
