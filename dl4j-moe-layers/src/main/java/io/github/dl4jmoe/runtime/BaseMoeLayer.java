package io.github.dl4jmoe.runtime;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.regularization.Regularization;

/**
 * Base class of every dl4j-moe layer config: a DL4J {@link SameDiffLayer} whose {@link #instantiate} returns our own
 * {@link MoeLayerRuntime} instead of DL4J's stock runtime.
 *
 * <p>Subclasses are token-wise: {@link #defineTokens(LayerGraph)} maps tokens {@code [n, nIn]} to {@code [n, nOut]}.
 * They accept 2D input {@code [mb, nIn]} and 3D input {@code [mb, nIn, T]} (NCW, DL4J's default) with an optional
 * time-step mask {@code [mb, T]}; masked steps output zero and receive no gradient.
 *
 * <p>Parameters listed by {@link #stateParamKeys()} are non-trainable state: they live in the parameter vector (so
 * {@code ModelSerializer} saves them and parameter averaging averages them), get no regularization and never a
 * gradient of the loss, and change only through {@link LayerGraph#updateState} (their updater is {@link NoOp}) or
 * through DL4J's parameter step applying their own updater ({@link #stateUpdater}) to what the layer writes as their
 * gradient ({@link LayerGraph#stateGradient}).
 *
 * <p>Configuration is validated by {@link #validate()} from each builder's {@code build()} and again in
 * {@link #instantiate}, which also covers configs loaded from JSON (Jackson bypasses builders).
 */
public abstract class BaseMoeLayer extends SameDiffLayer {

    protected long nIn;
    protected long nOut;
    /** Configs saved before execution modes existed load with the default, EAGER. */
    private ExecutionMode executionMode = ExecutionMode.EAGER;

    protected BaseMoeLayer(Builder<?> builder) {
        super(builder);
        this.nIn = builder.nIn;
        this.nOut = builder.nOut != 0 ? builder.nOut : builder.nIn;
        this.executionMode = builder.executionMode;
    }

    /** For Jackson. */
    protected BaseMoeLayer() {
    }

    /**
     * Defines the layer's graph on its tokens.
     *
     * @return the output, {@code [tokens, nOut]}
     */
    public abstract SDVariable defineTokens(LayerGraph graph);

    /**
     * The layer's eager computation on its tokens: a function of one input, the tokens {@code [n, nIn]}, returning
     * {@code [n, nOut]}, with its own backward pass that writes every parameter's gradient
     * ({@link HostContext#gradient}), adds its auxiliary losses' gradients and updates its state. A new instance per
     * call (the runtime keeps one per layer instance). Null when the layer has none: it then runs its graph.
     */
    public HostFunction<?> eagerFunction() {
        return null;
    }

    /** Whether this layer runs its eager path: it has one and its execution mode is EAGER. */
    public boolean runsEager() {
        return executionMode != ExecutionMode.GRAPH && eagerFunction() != null;
    }

    /**
     * Checks every field, throwing {@link DL4JInvalidConfigException} with a message that names this layer, the field,
     * the bad value and the fix (see {@link #require}).
     */
    public abstract void validate();

    /** Keys of the non-trainable state parameters among those declared in {@code defineParameters}. */
    public Set<String> stateParamKeys() {
        return Collections.emptySet();
    }

    /**
     * The updater of a state parameter: {@link NoOp} unless the layer steps that state through DL4J's parameter step
     * ({@link LayerGraph#stateGradient}), when it is the rule that turns the written gradient into the step. Never the
     * configured updater: state is not trained.
     */
    public IUpdater stateUpdater(String key) {
        return new NoOp();
    }

    /**
     * Keys of parameters that the layer updates itself (sparse row updates by a host function, see
     * {@link LayerGraph#hostOutput}): DL4J sees a NoOp updater, no regularization and no minibatch division for them.
     */
    public Set<String> hostUpdatedParamKeys() {
        return Collections.emptySet();
    }

    /** The updater configured for a parameter, ignoring the NoOp that state and host-updated parameters get. */
    public IUpdater configuredUpdater(String paramName) {
        return super.getUpdaterByParam(paramName);
    }

    /** "ClassName(name=layerName)", the prefix of every message about this layer. */
    public String describe() {
        return getClass().getSimpleName() + "(name=" + (layerName == null ? "unnamed" : layerName) + ")";
    }

    /**
     * Throws {@link DL4JInvalidConfigException} unless {@code ok}: "Layer(name=x): field must be ..., got value (fix)".
     */
    protected void require(boolean ok, String field, Object value, String requirement, String fix) {
        if (!ok) {
            throw invalid(describe(), field, value, requirement, fix);
        }
    }

    /** The one format of configuration errors: "Layer(name=x): field must be ..., got value (fix)". */
    public static DL4JInvalidConfigException invalid(String layer, String field, Object value, String requirement,
                                                     String fix) {
        return new DL4JInvalidConfigException(layer + ": " + field + " " + requirement + ", got " + value
                + " (" + fix + ")");
    }

    /**
     * Checks nIn and nOut; call from {@link #validate()}. Zero means "not set yet": nIn is then inferred from the
     * network's {@code setInputType(...)} and nOut defaults to nIn; {@link #instantiate} requires both to be set.
     */
    protected void validateWidths() {
        require(nIn >= 0, "nIn", nIn, "must be positive",
                "set nIn(...) or let the network infer it from setInputType(...)");
        require(nOut >= 0, "nOut", nOut, "must be positive", "set nOut(...), or leave it unset to use nIn");
        require(executionMode != null, "executionMode", null, "must be set",
                "use ExecutionMode.EAGER (default) or ExecutionMode.GRAPH");
    }

    // ----------------------------------------------------------------------------------------------------------------
    // DL4J plumbing

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> trainingListeners,
                             int layerIndex, INDArray layerParamsView, boolean initializeParams,
                             DataType networkDataType) {
        validate();
        require(nIn > 0, "nIn", nIn, "was not set and could not be inferred",
                "set nIn(...) or call setInputType(...) on the network configuration");
        for (String key : getLayerParams().getParamShapes().keySet()) {
            if (key.contains("_")) { // DL4J splits gradient keys "layer_param" at the last underscore
                throw new IllegalStateException(describe() + ": parameter key '" + key + "' must not contain '_'");
            }
        }
        MoeLayerRuntime runtime = new MoeLayerRuntime(conf, networkDataType);
        runtime.setListeners(trainingListeners);
        runtime.setIndex(layerIndex);
        runtime.setParamsViewArray(layerParamsView);
        Map<String, INDArray> paramTable = initializer().init(conf, layerParamsView, initializeParams);
        runtime.setParamTable(paramTable);
        runtime.setConf(conf);
        return runtime;
    }

    /**
     * Lets DL4J's stock SameDiff runtime run this layer (2D input, inference semantics, no auxiliary losses or state
     * updates, and no host inputs, so not PEER). Our runtime calls {@link #defineTokens} directly; this exists for
     * tools that call {@code defineLayer} themselves.
     */
    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable layerInput, Map<String, SDVariable> paramTable,
                                  SDVariable mask) {
        return defineTokens(new LayerGraph(sd, layerInput, paramTable, stateParamKeys(),
                () -> sd.constant(0.0).castTo(layerInput.dataType()), describe()));
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        long width = nOut > 0 ? nOut : nIn;
        switch (inputType.getType()) {
            case FF:
                return InputType.feedForward(width);
            case RNN:
                InputType.InputTypeRecurrent rnn = (InputType.InputTypeRecurrent) inputType;
                return InputType.recurrent(width, rnn.getTimeSeriesLength(), rnn.getFormat());
            default:
                throw new DL4JInvalidConfigException(describe() + ": input type " + inputType.getType()
                        + " is not supported; use feed-forward [mb, nIn] or recurrent [mb, nIn, T] input");
        }
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        if (nIn <= 0 || override) {
            switch (inputType.getType()) {
                case FF:
                    nIn = ((InputType.InputTypeFeedForward) inputType).getSize();
                    break;
                case RNN:
                    nIn = ((InputType.InputTypeRecurrent) inputType).getSize();
                    break;
                default:
                    getOutputType(-1, inputType); // throws the unsupported-type message
            }
        }
        if (nOut <= 0) {
            nOut = nIn;
        }
    }

    @Override
    public IUpdater getUpdaterByParam(String paramName) {
        if (stateParamKeys().contains(paramName)) {
            return stateUpdater(paramName);
        }
        return isSelfManaged(paramName) ? new NoOp() : super.getUpdaterByParam(paramName);
    }

    @Override
    public List<Regularization> getRegularizationByParam(String paramName) {
        return isSelfManaged(paramName) ? Collections.emptyList() : super.getRegularizationByParam(paramName);
    }

    /** State and host-updated parameters: DL4J's updater must leave them alone. */
    boolean isSelfManaged(String paramName) {
        return stateParamKeys().contains(paramName) || hostUpdatedParamKeys().contains(paramName);
    }

    public ExecutionMode getExecutionMode() {
        return executionMode;
    }

    public void setExecutionMode(ExecutionMode executionMode) {
        this.executionMode = executionMode;
    }

    public long getNIn() {
        return nIn;
    }

    public void setNIn(long nIn) {
        this.nIn = nIn;
    }

    public long getNOut() {
        return nOut;
    }

    public void setNOut(long nOut) {
        this.nOut = nOut;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (o == null || getClass() != o.getClass() || !super.equals(o)) {
            return false;
        }
        BaseMoeLayer that = (BaseMoeLayer) o;
        return nIn == that.nIn && nOut == that.nOut && executionMode == that.executionMode;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), nIn, nOut, executionMode);
    }

    /** Builder base: widths plus everything DL4J's SameDiff layer builders offer (updater, weight init, l2, ...). */
    public abstract static class Builder<T extends Builder<T>> extends SameDiffLayer.Builder<T> {
        protected long nIn;
        protected long nOut;
        protected ExecutionMode executionMode = ExecutionMode.EAGER;

        /**
         * EAGER (default): the layer's eager path, where it has one; GRAPH: its SameDiff graph, the reference.
         */
        @SuppressWarnings("unchecked")
        public T executionMode(ExecutionMode executionMode) {
            this.executionMode = executionMode;
            return (T) this;
        }

        /** Input width; may be left unset when the network is given {@code setInputType(...)}. */
        @SuppressWarnings("unchecked")
        public T nIn(long nIn) {
            this.nIn = nIn;
            return (T) this;
        }

        /** Output width; default nIn. */
        @SuppressWarnings("unchecked")
        public T nOut(long nOut) {
            this.nOut = nOut;
            return (T) this;
        }
    }
}
