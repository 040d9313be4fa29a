package io.github.dl4jmoe.zoo;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
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
 * A classifier for feature vectors: an MLP whose hidden blocks are dl4j-moe feed-forward layers (zoo pattern of DL4J's
 * {@code TextGenerationLSTM}: builder with defaults, {@link #conf()}, {@link #init()}).
 *
 * <p>Layers: a dense projection {@code [mb, numInputs] -> [mb, width]} (GELU), {@code blocks} feed-forward layers
 * {@code [mb, width] -> [mb, width]} of any {@link FeedForwardKind} or configuration, and a softmax output
 * {@code [mb, numClasses]} trained with cross-entropy on one-hot labels.
 */
// init() narrows InstantiableModel's <M extends Model> M init(); javac flags it per class
@SuppressWarnings("unchecked")
public final class MoEClassifier extends ZooModel<MultiLayerNetwork> {

    public static final int DEFAULT_WIDTH = 64;
    public static final int DEFAULT_BLOCKS = 2;
    public static final FeedForwardKind DEFAULT_FEED_FORWARD = FeedForwardKind.MOE_TOPP;
    public static final double DEFAULT_LEARNING_RATE = 1e-3;
    public static final long DEFAULT_SEED = 42;

    private final int numInputs;
    private final int numClasses;
    private final int width;
    private final FeedForwardBlocks blocks;
    private final IUpdater updater;
    private final long seed;
    private final DataType dataType;

    private MoEClassifier(Builder b, FeedForwardBlocks blocks) {
        this.numInputs = b.numInputs;
        this.numClasses = b.numClasses;
        this.width = b.width;
        this.blocks = blocks;
        this.updater = b.updater.clone();
        this.seed = b.seed;
        this.dataType = b.dataType;
    }

    public static Builder builder() {
        return new Builder();
    }

    public MultiLayerConfiguration conf() {
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(dataType)
                .updater(updater.clone())
                .weightInit(WeightInit.XAVIER)
                .list()
                .layer(new DenseLayer.Builder().nIn(numInputs).nOut(width).activation(Activation.GELU).build());
        for (int i = 0; i < blocks.size(); i++) {
            list.layer(blocks.layer(i));
        }
        return list.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nIn(width).nOut(numClasses).build())
                .setInputType(InputType.feedForward(numInputs))
                .build();
    }

    @Override
    public MultiLayerNetwork init() {
        MultiLayerNetwork net = new MultiLayerNetwork(conf());
        net.init();
        return net;
    }

    @Override
    public String pretrainedUrl(PretrainedType pretrainedType) {
        return null; // no pretrained weights: the classifier is trained on the user's data
    }

    @Override
    public long pretrainedChecksum(PretrainedType pretrainedType) {
        return 0L;
    }

    @Override
    public Class<? extends Model> modelType() {
        return MultiLayerNetwork.class;
    }

    /** Deprecated in DL4J's {@code InstantiableModel}, still implemented for callers of the zoo API. */
    @Deprecated
    @Override
    @SuppressWarnings("deprecation")
    public ModelMetaData metaData() {
        return new ModelMetaData(new int[][] {{numInputs}}, 1, ZooType.CNN); // ZooType has no entry for MLPs
    }

    /** The input width is fixed by the builder; this reports what to change instead of silently ignoring it. */
    @Override
    public void setInputShape(int[][] inputShape) {
        throw new UnsupportedOperationException("MoEClassifier: set the input width with builder().numInputs(...) "
                + "instead of setInputShape");
    }

    /** The kind of each block (a configured layer overrides its block's kind). */
    public FeedForwardKind[] feedForward() {
        return blocks.kinds();
    }

    /** Fluent builder; {@link #build()} validates every argument. */
    public static final class Builder extends BlockModelBuilder<Builder> {
        private int numInputs;
        private int numClasses;
        private int width = DEFAULT_WIDTH;
        private int blocks = DEFAULT_BLOCKS;

        private Builder() {
            super(DEFAULT_FEED_FORWARD, new Adam(DEFAULT_LEARNING_RATE), DEFAULT_SEED);
        }

        /** Features per example (required). */
        public Builder numInputs(int numInputs) {
            this.numInputs = numInputs;
            return this;
        }

        /** Classes (required). */
        public Builder numClasses(int numClasses) {
            this.numClasses = numClasses;
            return this;
        }

        /** Width of every hidden block. */
        public Builder width(int width) {
            this.width = width;
            return this;
        }

        /** Number of feed-forward blocks. */
        public Builder blocks(int blocks) {
            this.blocks = blocks;
            return this;
        }

        public MoEClassifier build() {
            ZooArguments args = new ZooArguments("MoEClassifier");
            args.require(numInputs >= 1, "numInputs", numInputs, "must be at least 1",
                    "set numInputs(features per example)");
            args.require(numClasses >= 2, "numClasses", numClasses, "must be at least 2", "set numClasses(...)");
            args.require(width >= 2, "width", width, "must be at least 2", "the default is " + DEFAULT_WIDTH);
            args.require(blocks >= 1, "blocks", blocks, "must be at least 1", "the default is " + DEFAULT_BLOCKS);
            return new MoEClassifier(this, blocks(args, blocks, width));
        }
    }
}
