package io.github.dl4jmoe.sequence;

import java.util.Map;
import java.util.Objects;

import io.github.dl4jmoe.host.HostFunction;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Learned absolute positional embeddings (as in GPT-2): {@code y[:, :, t] = x[:, :, t] + P[:, t]}, with a table
 * {@code P [d, contextLength]} initialised from {@code N(0, initStd^2)}.
 *
 * <p>Input and output {@code [mb, d, T]} (NCW) for any {@code T <= contextLength}; the graph slices {@code P[:, :T]}
 * with the T of each input. Longer sequences are rejected with a message: when the network's input type states T
 * (at configuration time) and otherwise in {@link #validateInput}, before the graph runs. Masked steps get their
 * position's embedding like any other step (the mask is passed on unchanged).
 *
 * <pre>
 * .addLayer("pos", new PositionalEmbedding.Builder().nIn(64).contextLength(256).build(), "embed")
 * </pre>
 */
public class PositionalEmbedding extends BaseSequenceLayer {

    public static final String POSITIONS = "p";

    public static final double DEFAULT_INIT_STD = 0.02;

    private long contextLength;
    private double initStd = DEFAULT_INIT_STD;

    protected PositionalEmbedding(Builder builder) {
        super(builder);
        this.contextLength = builder.contextLength;
        this.initStd = builder.initStd;
        validate();
    }

    /** For Jackson. */
    protected PositionalEmbedding() {
    }

    @Override
    public void validate() {
        validateWidth();
        require(contextLength > 0, "contextLength", contextLength, "must be positive",
                "set contextLength(...) to the longest sequence the network will see");
        require(initStd >= 0 && Double.isFinite(initStd), "initStd", initStd, "must be finite and non-negative",
                "try initStd(" + DEFAULT_INIT_STD + ")");
    }

    @Override
    protected void checkSequenceLength(long timeSteps) {
        require(timeSteps <= contextLength, "sequence length T", timeSteps,
                "must be at most contextLength=" + contextLength,
                "raise contextLength(...) or feed shorter sequences");
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addWeightParam(POSITIONS, nIn, contextLength);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        INDArray p = params.get(POSITIONS);
        p.assign(Nd4j.randn(p.dataType(), p.shape()).muli(initStd));
    }

    @Override
    public HostFunction<?> eagerFunction() {
        return new PositionFunction();
    }

    @Override
    protected SDVariable defineSequence(SameDiff sd, SDVariable x, Map<String, SDVariable> params, SDVariable mask) {
        SDVariable t = sd.sizeAt(x, 2);
        SDVariable begin = sd.constant(Nd4j.createFromArray(0L, 0L));
        SDVariable size = sd.stack(0, sd.constant(Nd4j.scalar(DataType.INT64, nIn)), t);
        SDVariable positions = sd.slice(params.get(POSITIONS), begin, size);   // [d, T]
        return x.add(positions);                                                // [mb, d, T]
    }

    public long getContextLength() {
        return contextLength;
    }

    public void setContextLength(long contextLength) {
        this.contextLength = contextLength;
    }

    public double getInitStd() {
        return initStd;
    }

    public void setInitStd(double initStd) {
        this.initStd = initStd;
    }

    @Override
    public boolean equals(Object o) {
        if (!super.equals(o)) {
            return false;
        }
        PositionalEmbedding that = (PositionalEmbedding) o;
        return contextLength == that.contextLength && Double.compare(initStd, that.initStd) == 0;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), contextLength, initStd);
    }

    /** Builder; contextLength is required, nIn (= d) may come from the network's input type. */
    @SuppressWarnings("unchecked") // DL4J declares Layer.Builder#build() as <E extends Layer> E build()
    public static class Builder extends BaseSequenceLayer.Builder<Builder> {
        private long contextLength;
        private double initStd = DEFAULT_INIT_STD;

        /** Longest sequence length T the layer accepts: the number of learned positions. Required. */
        public Builder contextLength(long contextLength) {
            this.contextLength = contextLength;
            return this;
        }

        /** Standard deviation of the normal initialisation of P; default 0.02. */
        public Builder initStd(double initStd) {
            this.initStd = initStd;
            return this;
        }

        @Override
        public PositionalEmbedding build() {
            return new PositionalEmbedding(this);
        }
    }
}
