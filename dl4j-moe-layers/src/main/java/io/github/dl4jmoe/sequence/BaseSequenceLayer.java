package io.github.dl4jmoe.sequence;

import java.util.Arrays;
import java.util.Collection;
import java.util.Map;
import java.util.Objects;

import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.ops.SdOps;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import io.github.dl4jmoe.runtime.ExecutionMode;
import io.github.dl4jmoe.runtime.SequenceLayerRuntime;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Base of the sequence layer configs: a DL4J {@link SameDiffLayer} of width {@code d = nIn = nOut} that runs on DL4J's
 * stock SameDiff runtime, because these layers mix time steps (attention) or need the whole sequence (positions) and
 * so cannot use the token-wise {@link io.github.dl4jmoe.runtime.MoeLayerRuntime}.
 *
 * <p>Input is DL4J's recurrent format {@code [mb, d, T]} (NCW) with an optional time-step mask {@code [mb, T]};
 * subclasses that say so in {@link #acceptsFeedForward()} also take {@code [mb, d]}.
 *
 * <p>The stock runtime on M2.1 seeds backprop through an "external errors" op that makes every gradient of a
 * SameDiff layer exactly twice too large (four times two such layers down, and so on; DL4J's own
 * {@code SelfAttentionLayer} has the same bug). {@link #defineLayer} therefore returns
 * {@code 0.5 * out + 0.5 * stopGradient(out)}: the same forward value, half the gradient.
 *
 * <p>Configuration is checked by {@link #validate()} from each builder's {@code build()} and again in
 * {@link #instantiate} (configs loaded from JSON bypass the builder); input arrays are checked by
 * {@link #validateInput(INDArray)}, which the stock runtime calls before every forward and backward pass.
 */
public abstract class BaseSequenceLayer extends SameDiffLayer {

    /** Share of the output that carries gradient; see {@link #halveGradient}. */
    private static final double GRADIENT_SHARE = 0.5;

    protected long nIn;
    /** Configs saved before execution modes existed load with the default, EAGER. */
    private ExecutionMode executionMode = ExecutionMode.EAGER;

    protected BaseSequenceLayer(Builder<?> builder) {
        super(builder);
        this.nIn = builder.nIn;
        this.executionMode = builder.executionMode;
    }

    /** For Jackson. */
    protected BaseSequenceLayer() {
    }

    /**
     * Checks every field, throwing {@link DL4JInvalidConfigException} with a message that names this layer, the field,
     * the bad value and the fix (see {@link #require}).
     */
    public abstract void validate();

    /**
     * Defines the layer's graph on the whole input.
     *
     * @param input  {@code [mb, d, T]} (or {@code [mb, d]} if {@link #acceptsFeedForward()})
     * @param params parameters by key
     * @param mask   {@code [mb, T]}, 1 for real steps and 0 for padding; all ones when the network has no mask
     *               ({@code [mb, 1]} for 2D input)
     * @return the output, same shape as {@code input}
     */
    protected abstract SDVariable defineSequence(SameDiff sd, SDVariable input, Map<String, SDVariable> params,
                                                 SDVariable mask);

    /**
     * The layer's eager computation: a function of the input {@code [mb, d, T]} (or {@code [mb, d]}) and the mask
     * {@code [mb, T]} returning the output of the input's shape, with its backward pass (see
     * {@link SequenceLayerRuntime}). A new instance per call; null when the layer has none.
     */
    public HostFunction<?> eagerFunction() {
        return null;
    }

    /** Whether this layer runs its eager path: it has one and its execution mode is EAGER. */
    public boolean runsEager() {
        return executionMode != ExecutionMode.GRAPH && eagerFunction() != null;
    }

    /** Whether 2D input {@code [mb, d]} is accepted besides {@code [mb, d, T]}; default false. */
    protected boolean acceptsFeedForward() {
        return false;
    }

    /**
     * Checks a sequence length, known either from the network's input type or from an input array; throws
     * {@link DL4JInvalidConfigException} if this layer cannot handle it. Default: every length is fine.
     */
    protected void checkSequenceLength(long timeSteps) {
    }

    @Override
    public final SDVariable defineLayer(SameDiff sd, SDVariable layerInput, Map<String, SDVariable> paramTable,
                                        SDVariable mask) {
        return halveGradient(sd, defineSequence(sd, layerInput, paramTable, mask));
    }

    /**
     * {@code 0.5 * out + 0.5 * stopGradient(out)}: equal to {@code out}, but gradients flow through one half only,
     * which undoes the stock runtime's doubling (DESIGN.md, M2.1 landmine 4).
     */
    static SDVariable halveGradient(SameDiff sd, SDVariable out) {
        return out.mul(GRADIENT_SHARE).add(SdOps.stopGradient(sd, out).mul(1.0 - GRADIENT_SHARE));
    }

    /** "ClassName(name=layerName)", the prefix of every message about this layer. */
    public String describe() {
        return getClass().getSimpleName() + "(name=" + (layerName == null ? "unnamed" : layerName) + ")";
    }

    /** Throws {@link DL4JInvalidConfigException} unless {@code ok}, in {@link BaseMoeLayer#invalid}'s format. */
    protected void require(boolean ok, String field, Object value, String requirement, String fix) {
        if (!ok) {
            throw BaseMoeLayer.invalid(describe(), field, value, requirement, fix);
        }
    }

    /** Checks nIn; call from {@link #validate()}. Zero means "inferred from the network's input type". */
    protected void validateWidth() {
        require(nIn >= 0, "nIn", nIn, "must be positive",
                "set nIn(...) or let the network infer it from setInputType(...)");
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
        if (!runsEager()) {
            Layer layer = super.instantiate(conf, trainingListeners, layerIndex, layerParamsView, initializeParams,
                    networkDataType);
            layer.setListeners(trainingListeners);
            return layer;
        }
        SequenceLayerRuntime runtime = new SequenceLayerRuntime(conf, networkDataType, eagerFunction(),
                this::validateInput);
        runtime.setListeners(trainingListeners);
        runtime.setIndex(layerIndex);
        runtime.setParamsViewArray(layerParamsView);
        runtime.setParamTable(initializer().init(conf, layerParamsView, initializeParams));
        runtime.setConf(conf);
        return runtime;
    }

    /** Rejects input of the wrong rank or width, and sequence lengths {@link #checkSequenceLength} rejects. */
    @Override
    public void validateInput(INDArray input) {
        boolean sequence = input.rank() == 3;
        boolean rows = input.rank() == 2 && acceptsFeedForward();
        if (!(sequence || rows) || input.size(1) != nIn) {
            throw new DL4JInvalidInputException(describe() + ": expected input " + expectedShape() + ", got shape "
                    + Arrays.toString(input.shape()) + " (check the layer below and nIn; recurrent input must be NCW)");
        }
        if (sequence) {
            try {
                checkSequenceLength(input.size(2));
            } catch (DL4JInvalidConfigException e) {
                throw new DL4JInvalidInputException(e.getMessage(), e);
            }
        }
    }

    private String expectedShape() {
        String recurrent = "[mb, nIn=" + nIn + ", T]";
        return acceptsFeedForward() ? "[mb, nIn=" + nIn + "] or " + recurrent : recurrent;
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        if (inputType.getType() == InputType.Type.RNN) {
            InputType.InputTypeRecurrent rnn = (InputType.InputTypeRecurrent) inputType;
            require(rnn.getFormat() == RNNFormat.NCW, "input format", rnn.getFormat(), "must be NCW [mb, d, T]",
                    "use RNNFormat.NCW, DL4J's default, for the layers below");
            if (rnn.getTimeSeriesLength() > 0) {
                checkSequenceLength(rnn.getTimeSeriesLength());
            }
            return InputType.recurrent(nIn > 0 ? nIn : rnn.getSize(), rnn.getTimeSeriesLength(), RNNFormat.NCW);
        }
        if (inputType.getType() == InputType.Type.FF && acceptsFeedForward()) {
            return InputType.feedForward(nIn > 0 ? nIn : ((InputType.InputTypeFeedForward) inputType).getSize());
        }
        throw BaseMoeLayer.invalid(describe(), "input type", inputType.getType(), "is not supported",
                "use recurrent input [mb, d, T]" + (acceptsFeedForward() ? " or feed-forward input [mb, d]" : ""));
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        if (nIn <= 0 || override) {
            getOutputType(-1, inputType); // throws the unsupported-type message
            nIn = inputType.getType() == InputType.Type.RNN
                    ? ((InputType.InputTypeRecurrent) inputType).getSize()
                    : ((InputType.InputTypeFeedForward) inputType).getSize();
            validate(); // constraints that involve nIn (e.g. heads dividing it) fail here, at configuration time
        }
    }

    public long getNIn() {
        return nIn;
    }

    public void setNIn(long nIn) {
        this.nIn = nIn;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (o == null || getClass() != o.getClass() || !super.equals(o)) {
            return false;
        }
        BaseSequenceLayer that = (BaseSequenceLayer) o;
        return nIn == that.nIn && executionMode == that.executionMode;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), nIn, executionMode);
    }

    public ExecutionMode getExecutionMode() {
        return executionMode;
    }

    public void setExecutionMode(ExecutionMode executionMode) {
        this.executionMode = executionMode;
    }

    /** Builder base: the width plus everything DL4J's SameDiff layer builders offer (updater, weight init, l2, ...). */
    public abstract static class Builder<T extends Builder<T>> extends SameDiffLayer.Builder<T> {
        protected long nIn;
        protected ExecutionMode executionMode = ExecutionMode.EAGER;

        /** EAGER (default): the layer's eager path; GRAPH: its SameDiff graph on DL4J's stock runtime. */
        @SuppressWarnings("unchecked")
        public T executionMode(ExecutionMode executionMode) {
            this.executionMode = executionMode;
            return (T) this;
        }

        /** Width d (input = output); may be left unset when the network is given {@code setInputType(...)}. */
        @SuppressWarnings("unchecked")
        public T nIn(long nIn) {
            this.nIn = nIn;
            return (T) this;
        }
    }
}
