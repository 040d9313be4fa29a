package io.github.dl4jmoe.zoo;

import java.io.IOException;
import java.util.Arrays;

import io.github.dl4jmoe.sequence.CausalSelfAttention;
import io.github.dl4jmoe.sequence.LayerNorm;
import io.github.dl4jmoe.sequence.PositionalEmbedding;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.zoo.ModelMetaData;
import org.deeplearning4j.zoo.PretrainedType;
import org.deeplearning4j.zoo.ZooModel;
import org.deeplearning4j.zoo.ZooType;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A decoder-only character language model whose feed-forward blocks are any of the dl4j-moe layers (zoo pattern of
 * DL4J's {@code TextGenerationLSTM}: builder with defaults, {@link #conf()}, {@link #init()}).
 *
 * <p>Architecture (pre-norm, as GPT-2): token embedding + learned positional embedding, then {@code layers} blocks of
 * {@code x + attention(norm(x))} and {@code x + feedForward(norm(x))}, a final norm and a softmax over the vocabulary.
 * The attention is {@link CausalSelfAttention}: position t sees positions up to t only.
 *
 * <p>Shapes: input "tokens" holds character indices {@code [mb, T]} with {@code T <= contextLength}; the output
 * "next" holds probabilities {@code [mb, vocabularySize, T]}; masks {@code [mb, T]} as produced by
 * {@link io.github.dl4jmoe.zoo.data.CharacterIterator} with index features.
 *
 * <p>{@link #initPretrained()} loads a small model trained on the bundled Shakespeare text from the classpath, with no
 * network access, with top-p MoE or PEER blocks ({@link PretrainedLanguageModel}); {@link CharLanguageModel} adds its
 * vocabulary, sampling and validation loss.
 */
// init() narrows InstantiableModel's <M extends Model> M init(); javac flags it per class
@SuppressWarnings("unchecked")
public final class MoETransformerLM extends ZooModel<ComputationGraph> {

    public static final String INPUT = "tokens";
    public static final String OUTPUT = "next";
    public static final int DEFAULT_CONTEXT_LENGTH = 64;
    public static final int DEFAULT_D_MODEL = 64;
    public static final int DEFAULT_LAYERS = 2;
    public static final int DEFAULT_HEADS = 4;
    public static final FeedForwardKind DEFAULT_FEED_FORWARD = FeedForwardKind.MOE_TOPP;
    public static final double DEFAULT_LEARNING_RATE = 2e-3;
    /** Per-layer gradient L2 norm clip; keeps early steps of small transformers stable. */
    public static final double GRADIENT_CLIP = 1.0;
    public static final long DEFAULT_SEED = 42;

    private final int vocabularySize;
    private final int contextLength;
    private final int dModel;
    private final int layers;
    private final int heads;
    private final FeedForwardBlocks feedForward;
    private final IUpdater updater;
    private final long seed;
    private final DataType dataType;

    private MoETransformerLM(Builder b, FeedForwardBlocks feedForward) {
        this.vocabularySize = b.vocabularySize;
        this.contextLength = b.contextLength;
        this.dModel = b.dModel;
        this.layers = b.layers;
        this.heads = b.heads;
        this.feedForward = feedForward;
        this.updater = b.updater.clone();
        this.seed = b.seed;
        this.dataType = b.dataType;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The graph configuration. */
    public ComputationGraphConfiguration conf() {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(dataType)
                .updater(updater.clone())
                .weightInit(WeightInit.XAVIER)
                .gradientNormalization(GradientNormalization.ClipL2PerLayer)
                .gradientNormalizationThreshold(GRADIENT_CLIP)
                .graphBuilder()
                .addInputs(INPUT); // every width is set explicitly: an input type would reset the embedding's nIn to 1
        g.addLayer("embed", new EmbeddingSequenceLayer.Builder().nIn(vocabularySize).nOut(dModel).hasBias(false)
                .inputLength(contextLength).build(), INPUT);
        g.addLayer("position", new PositionalEmbedding.Builder().nIn(dModel).contextLength(contextLength).build(),
                "embed");
        String x = "position";
        for (int i = 0; i < layers; i++) {
            String p = "block" + i + "-";
            g.addLayer(p + "attn-norm", new LayerNorm.Builder().nIn(dModel).build(), x);
            g.addLayer(p + "attn", new CausalSelfAttention.Builder().nIn(dModel).nHeads(heads).build(),
                    p + "attn-norm");
            g.addVertex(p + "attn-add", new ElementWiseVertex(ElementWiseVertex.Op.Add), x, p + "attn");
            g.addLayer(p + "ffn-norm", new LayerNorm.Builder().nIn(dModel).build(), p + "attn-add");
            g.addLayer(feedForwardLayerName(i), feedForward.layer(i), p + "ffn-norm");
            g.addVertex(p + "ffn-add", new ElementWiseVertex(ElementWiseVertex.Op.Add), p + "attn-add",
                    feedForwardLayerName(i));
            x = p + "ffn-add";
        }
        g.addLayer("norm", new LayerNorm.Builder().nIn(dModel).build(), x);
        g.addLayer(OUTPUT, new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                .dataFormat(RNNFormat.NCW).nIn(dModel).nOut(vocabularySize).build(), "norm");
        return g.setOutputs(OUTPUT).build();
    }

    /** The name of block {@code block}'s feed-forward layer (blocks count from 0). */
    public static String feedForwardLayerName(int block) {
        return "block" + block + "-ffn";
    }

    @Override
    public ComputationGraph init() {
        ComputationGraph net = new ComputationGraph(conf());
        net.init();
        return net;
    }

    /**
     * The model trained on the bundled Shakespeare text whose blocks are of this builder's feed-forward kind:
     * {@link FeedForwardKind#MOE_TOPP} (the default) or {@link FeedForwardKind#PEER} (see
     * {@link PretrainedLanguageModel}, whose {@code load()} also gives the vocabulary). As in DL4J's zoo, the other
     * settings (vocabulary size, width, ...) are not applied: the network is the one that was trained. DL4J's
     * {@link PretrainedType} has no text entry, hence no typed variant.
     *
     * @throws UnsupportedOperationException for other kinds, mixed kinds or configured feed-forward layers
     */
    @Override
    public ComputationGraph initPretrained() throws IOException {
        PretrainedLanguageModel model = feedForward.onlyKind().flatMap(PretrainedLanguageModel::of)
                .orElseThrow(() -> new UnsupportedOperationException("MoETransformerLM: no pretrained model with "
                        + describe(feedForward) + " blocks; the pretrained ones have "
                        + Arrays.toString(Arrays.stream(PretrainedLanguageModel.values())
                        .map(PretrainedLanguageModel::feedForward).toArray()) + " in every block (e.g. "
                        + "builder().feedForward(FeedForwardKind.PEER))"));
        return model.load().network();
    }

    private static String describe(FeedForwardBlocks blocks) {
        return blocks.hasConfiguredLayers() ? "configured feed-forward layer" : Arrays.toString(blocks.kinds());
    }

    @Override
    public <M extends Model> M initPretrained(PretrainedType pretrainedType) {
        throw new UnsupportedOperationException("MoETransformerLM: no " + pretrainedType
                + " weights; initPretrained() loads the bundled Shakespeare model of the builder's feed-forward kind");
    }

    @Override
    public String pretrainedUrl(PretrainedType pretrainedType) {
        return null; // the weights ship on the classpath, not at a URL
    }

    @Override
    public long pretrainedChecksum(PretrainedType pretrainedType) {
        return 0L;
    }

    @Override
    public Class<? extends Model> modelType() {
        return ComputationGraph.class;
    }

    /** Deprecated in DL4J's {@code InstantiableModel}, still implemented for callers of the zoo API. */
    @Deprecated
    @Override
    @SuppressWarnings("deprecation")
    public ModelMetaData metaData() {
        return new ModelMetaData(new int[][] {{1, contextLength}}, 1, ZooType.RNN);
    }

    /** The input shape is fixed by the builder; this reports what to change instead of silently ignoring it. */
    @Override
    public void setInputShape(int[][] inputShape) {
        throw new UnsupportedOperationException("MoETransformerLM: set the context length with "
                + "builder().contextLength(...) instead of setInputShape");
    }

    public int vocabularySize() {
        return vocabularySize;
    }

    public int contextLength() {
        return contextLength;
    }

    public int dModel() {
        return dModel;
    }

    public int layers() {
        return layers;
    }

    public int heads() {
        return heads;
    }

    /** The kind of each block's feed-forward layer (a custom config overrides its block's kind). */
    public FeedForwardKind[] feedForward() {
        return feedForward.kinds();
    }

    /** Fluent builder; {@link #build()} validates every argument. */
    public static final class Builder extends BlockModelBuilder<Builder> {
        private int vocabularySize;
        private int contextLength = DEFAULT_CONTEXT_LENGTH;
        private int dModel = DEFAULT_D_MODEL;
        private int layers = DEFAULT_LAYERS;
        private int heads = DEFAULT_HEADS;

        private Builder() {
            super(DEFAULT_FEED_FORWARD, new Adam(DEFAULT_LEARNING_RATE), DEFAULT_SEED);
        }

        /** Number of distinct characters (required). */
        public Builder vocabularySize(int vocabularySize) {
            this.vocabularySize = vocabularySize;
            return this;
        }

        /** Longest input sequence, and the number of learned positions. */
        public Builder contextLength(int contextLength) {
            this.contextLength = contextLength;
            return this;
        }

        public Builder dModel(int dModel) {
            this.dModel = dModel;
            return this;
        }

        public Builder layers(int layers) {
            this.layers = layers;
            return this;
        }

        /** Attention heads per block; must divide dModel. */
        public Builder heads(int heads) {
            this.heads = heads;
            return this;
        }

        public MoETransformerLM build() {
            ZooArguments args = new ZooArguments("MoETransformerLM");
            args.require(vocabularySize >= 2, "vocabularySize", vocabularySize, "must be at least 2",
                    "use CharacterVocabulary.size() of your text");
            args.require(contextLength >= 1, "contextLength", contextLength, "must be at least 1",
                    "the default is " + DEFAULT_CONTEXT_LENGTH);
            args.require(dModel >= 2, "dModel", dModel, "must be at least 2", "the default is " + DEFAULT_D_MODEL);
            args.require(layers >= 1, "layers", layers, "must be at least 1", "the default is " + DEFAULT_LAYERS);
            args.require(heads >= 1 && dModel % heads == 0, "heads", heads, "must divide dModel = " + dModel,
                    "try heads(" + CausalSelfAttention.largestDivisorAtMost(dModel, Math.max(1, heads)) + ")");
            return new MoETransformerLM(this, blocks(args, layers, dModel));
        }
    }
}
