package io.github.dl4jmoe.runtime;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

import io.github.dl4jmoe.ops.SdOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
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
 *   <li>statistics: arrays read after every forward pass (routing statistics, for example).</li>
 * </ul>
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
    private final Map<String, SDVariable> statistics = new LinkedHashMap<>();
    private final Map<String, HostInput> hostInputs = new LinkedHashMap<>();

    /** An auxiliary loss term: {@code coefficient * value} joins the objective. */
    public record AuxLoss(SDVariable value, double coefficient) {
    }

    /** Java code that computes a placeholder's value before each pass. */
    @FunctionalInterface
    public interface HostComputation {
        INDArray compute(HostContext context);
    }

    /** Receives the objective's gradient with respect to a host input after each backward pass. */
    @FunctionalInterface
    public interface HostGradient {
        void accept(HostContext context, INDArray gradient);
    }

    /**
     * A placeholder filled by Java code.
     *
     * @param gradientSink null when no gradient is needed
     * @param statistic    whether the value is published with the layer's statistics after each pass
     */
    public record HostInput(SDVariable placeholder, HostComputation computation, HostGradient gradientSink,
                            boolean statistic) {
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
            throw new IllegalStateException(layerDescription + ": no state parameter '" + key + "'; state: " + stateKeys);
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
        if (!stateKeys.contains(key)) {
            throw new IllegalStateException(layerDescription + ": cannot update '" + key + "', not a state parameter; state: "
                    + stateKeys);
        }
        requireNew(stateUpdates, key, "state update");
        stateUpdates.put(key, newValue);
    }

    /** Makes {@code value} readable after every forward pass under {@code name}. */
    public void addStatistic(String name, SDVariable value) {
        requireNew(statistics, name, "statistic");
        statistics.put(name, value);
    }

    /**
     * Declares a placeholder that the runtime fills before each pass by running {@code computation}, which may
     * evaluate graph variables defined so far ({@link HostContext#eval}). Use it for what SameDiff on M2.1 cannot do
     * well: searches (product-key retrieval), and row gathers from tables too large for dense gradients. With a
     * {@code gradientSink}, the objective's gradient with respect to the placeholder is computed in each backward pass
     * and handed to the sink, which can turn it into sparse parameter updates or dense gradients.
     *
     * @param shape placeholder shape, -1 for dynamic dimensions
     */
    public SDVariable hostInput(String name, DataType type, long[] shape, HostComputation computation,
                                HostGradient gradientSink, boolean statistic) {
        requireNew(hostInputs, name, "host input");
        if (gradientSink != null && !type.isFPType()) {
            throw new IllegalStateException(layerDescription + ": host input '" + name + "' of type " + type
                    + " cannot receive a gradient");
        }
        SDVariable placeholder = sd.placeHolder(name, type, shape);
        hostInputs.put(name, new HostInput(placeholder, computation, gradientSink, statistic));
        return placeholder;
    }

    Map<String, HostInput> hostInputs() {
        return Collections.unmodifiableMap(hostInputs);
    }

    Map<String, AuxLoss> auxLosses() {
        return Collections.unmodifiableMap(auxLosses);
    }

    Map<String, SDVariable> stateUpdates() {
        return Collections.unmodifiableMap(stateUpdates);
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
