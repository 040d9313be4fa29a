package io.github.dl4jmoe.runtime;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.ops.SdOps;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * What a layer sees while it defines its SameDiff graph, and what it declares besides its output.
 *
 * <p>The input holds the layer's tokens as rows {@code [tokens, nIn]}: 3D input {@code [mb, nIn, T]} is flattened by
 * the runtime and masked time steps are left out before the graph runs, so layers never see them and need no mask
 * logic of their own.
 *
 * <p>Besides its output a layer may declare:
 * <ul>
 *   <li>auxiliary losses (scalars), added with a coefficient to the training objective and to the reported score;</li>
 *   <li>state updates: new values for non-trainable parameters, written after every training step;</li>
 *   <li>state gradients: what a state parameter's own updater ({@link BaseMoeLayer#stateUpdater}) turns into its
 *   step, applied by DL4J's parameter step;</li>
 *   <li>statistics: arrays read after every forward pass (routing statistics, for example).</li>
 * </ul>
 * or compute the output itself in Java with {@link #hostOutput}.
 */
public final class LayerGraph {

    private final SameDiff sd;
    private final SDVariable input;
    private final Map<String, SDVariable> params;
    private final Set<String> stateKeys;
    private final Supplier<SDVariable> trainingSource;
    private SDVariable training;
    private final String layerDescription;

    private final Map<String, AuxLoss> auxLosses = new LinkedHashMap<>();
    private final Map<String, SDVariable> stateUpdates = new LinkedHashMap<>();
    private final Map<String, SDVariable> stateGradients = new LinkedHashMap<>();
    private final Map<String, SDVariable> statistics = new LinkedHashMap<>();
    private HostOutput hostOutput;

    /** An auxiliary loss term: {@code coefficient * value} joins the objective. */
    public record AuxLoss(SDVariable value, double coefficient) {
    }

    /**
     * A layer output computed by a {@link HostFunction}.
     *
     * @param value     placeholder holding the forward value
     * @param output    what {@code defineTokens} returns (an identity of {@code value})
     * @param inputs    graph variables the function reads, differentiable ones first
     * @param gradients placeholders holding dL/d(inputs[i]) of the differentiable inputs during backprop
     */
    public record HostOutput(SDVariable value, SDVariable output, HostFunction<?> function, SDVariable[] inputs,
                             SDVariable[] gradients) {
    }

    LayerGraph(SameDiff sd, SDVariable input, Map<String, SDVariable> params, Set<String> stateKeys,
               Supplier<SDVariable> trainingSource, String layerDescription) {
        this.sd = sd;
        this.input = input;
        this.params = params;
        this.stateKeys = stateKeys;
        this.trainingSource = trainingSource;
        this.layerDescription = layerDescription;
    }

    public SameDiff sd() {
        return sd;
    }

    /** The tokens, {@code [tokens, nIn]}. */
    public SDVariable input() {
        return input;
    }

    /** A trainable parameter by key. */
    public SDVariable param(String key) {
        SDVariable p = params.get(key);
        if (p == null || stateKeys.contains(key)) {
            throw new IllegalStateException(layerDescription + ": no trainable parameter '" + key + "'; trainable: "
                    + trainableKeys() + (stateKeys.contains(key) ? " ('" + key + "' is state: use state())" : ""));
        }
        return p;
    }

    /** A non-trainable state parameter, behind a stop-gradient. */
    public SDVariable state(String key) {
        if (!stateKeys.contains(key)) {
            throw new IllegalStateException(layerDescription + ": no state parameter '" + key + "'; state: "
                    + stateKeys);
        }
        return SdOps.stopGradient(sd, params.get(key));
    }

    /**
     * Scalar, 1 while training ({@code fit}, {@code output(x, true)}) and 0 at inference. Created on first use: an
     * unused variable would be mistaken for the loss by SameDiff's loss guess when DL4J's stock runtime runs a layer.
     */
    public SDVariable training() {
        if (training == null) {
            training = trainingSource.get();
        }
        return training;
    }

    /**
     * Adds {@code coefficient * value} to the training objective and to the network's score.
     *
     * @param value scalar, a mean over tokens (the runtime scales it to DL4J's per-example gradient convention)
     */
    public void addAuxLoss(String name, SDVariable value, double coefficient) {
        requireNew(auxLosses, name, "auxiliary loss");
        auxLosses.put(name, new AuxLoss(value, coefficient));
    }

    /** After each training step the state parameter {@code key} takes the value of {@code newValue}. */
    public void updateState(String key, SDVariable newValue) {
        requireState(key, "update");
        requireNew(stateUpdates, key, "state update");
        stateUpdates.put(key, newValue);
    }

    /**
     * Writes {@code value} into the gradient of the state parameter {@code key} in every backward pass, so that DL4J's
     * parameter step moves the state by what its updater ({@link BaseMoeLayer#stateUpdater}) makes of it: once per
     * {@code fit} step, never in inference or a gradient check (the way DL4J's BatchNormalization steps its running
     * statistics). Use it where a state must change exactly with the optimizer's steps; {@link #updateState} writes
     * during the backward pass instead.
     *
     * @param value of the parameter's shape
     */
    public void stateGradient(String key, SDVariable value) {
        requireState(key, "write a gradient for");
        requireNew(stateGradients, key, "state gradient");
        stateGradients.put(key, value);
    }

    /** Fails, saying what {@code action} needed, unless {@code key} names a state parameter. */
    private void requireState(String key, String action) {
        if (!stateKeys.contains(key)) {
            throw new IllegalStateException(layerDescription + ": cannot " + action + " '" + key
                    + "', not a state parameter; state: " + stateKeys);
        }
    }

    /** Makes {@code value} readable after every forward pass under {@code name}. */
    public void addStatistic(String name, SDVariable value) {
        requireNew(statistics, name, "statistic");
        statistics.put(name, value);
    }

    /**
     * Declares that the layer's output is computed by Java code from graph variables (for example the input and
     * retrieval scores), and returns the variable {@code defineTokens} must return. In each pass the runtime
     * evaluates the inputs and runs {@code function.forward}; in backprop it hands the function dL/d(output) first,
     * and the gradients it returns enter the objective as {@code sum(input_i * gradient_i)}, so they flow on through
     * the graph. Use it where a graph formulation would materialise tensors far larger than the work (PEER's
     * retrieved expert rows).
     *
     * @param differentiable rank-2 graph variables ({@link #input()} included) the function reads and returns
     *                       gradients for
     * @param readOnly       graph variables it only reads (no gradient flows back through them); the function
     *                       receives all inputs, differentiable ones first
     */
    public SDVariable hostOutput(String name, long width, HostFunction<?> function, SDVariable[] differentiable,
                                 SDVariable... readOnly) {
        if (hostOutput != null) {
            throw new IllegalStateException(layerDescription + ": a layer has at most one host output");
        }
        if (differentiable.length == 0) {
            throw new IllegalStateException(layerDescription + ": a host output needs a differentiable graph input");
        }
        SDVariable value = sd.placeHolder(name, input.dataType(), -1, width);
        SDVariable[] gradients = new SDVariable[differentiable.length];
        for (int i = 0; i < differentiable.length; i++) {
            gradients[i] = sd.placeHolder(name + "Grad" + i, input.dataType(), -1, -1);
        }
        SDVariable[] inputs = new SDVariable[differentiable.length + readOnly.length];
        System.arraycopy(differentiable, 0, inputs, 0, differentiable.length);
        System.arraycopy(readOnly, 0, inputs, differentiable.length, readOnly.length);
        hostOutput = new HostOutput(value, sd.identity(value), function, inputs, gradients);
        return hostOutput.output();
    }

    /** The host output, or null. */
    HostOutput hostOutput() {
        return hostOutput;
    }

    Map<String, AuxLoss> auxLosses() {
        return Collections.unmodifiableMap(auxLosses);
    }

    Map<String, SDVariable> stateUpdates() {
        return Collections.unmodifiableMap(stateUpdates);
    }

    Map<String, SDVariable> stateGradients() {
        return Collections.unmodifiableMap(stateGradients);
    }

    Map<String, SDVariable> statistics() {
        return Collections.unmodifiableMap(statistics);
    }

    private Set<String> trainableKeys() {
        Set<String> keys = new java.util.LinkedHashSet<>(params.keySet());
        keys.removeAll(stateKeys);
        return keys;
    }

    private void requireNew(Map<String, ?> map, String name, String what) {
        if (map.containsKey(name)) {
            throw new IllegalStateException(layerDescription + ": " + what + " '" + name + "' declared twice");
        }
    }
}
