package io.github.dl4jmoe.zoo;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.github.dl4jmoe.peer.ProductKeyLayer;
import io.github.dl4jmoe.runtime.ModelLayers;
import io.github.dl4jmoe.stats.ExpertUsage;
import io.github.dl4jmoe.stats.RoutingStatistics;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.api.DataSet;

/**
 * The character models that ship inside dl4j-moe-zoo's jar (no download), each a {@link MoETransformerLM} with the
 * default architecture (2 pre-norm blocks, d = 64, 4 heads, context 64) and one feed-forward kind in both blocks,
 * trained on the bundled Shakespeare text by the examples' {@code train} command for {@link #steps()} steps of 32 x 64
 * characters at the default learning rate and seed, and saved without updater state.
 *
 * <p>Each states its {@link #figures()}, measured by {@link #measure} on the whole validation split (the last 10% of
 * the text, windows of {@value #EVAL_LENGTH}); a test measures them again. Load them with {@link #load()} or with
 * {@link MoETransformerLM#initPretrained()} on a builder of the same feed-forward kind.
 */
public enum PretrainedLanguageModel {
    /**
     * Top-p MoE blocks ({@link FeedForwardKind#MOE_TOPP}: 8 experts, p = 0.4, expert bias), 441k parameters. The
     * PyTorch reference of the same architecture ({@code lm_torch.py --ffn moe_topp --steps 3000}) reaches 1.64.
     */
    MOE_TOPP(FeedForwardKind.MOE_TOPP, "shakespeare-lm.zip", 3000,
            new Figures(1.6821, new double[] {1.4899, 1.3452}, new double[] {0.0057, 0.0014})),
    /**
     * PEER blocks ({@link FeedForwardKind#PEER}: 32^2 single-neuron experts, 4 heads of top-32, query BatchNorm),
     * 346k parameters. Each token retrieves 4 x 32 = 128 experts per block; the load KL is the unevenness of the
     * retrievals over the 1,024 experts.
     */
    PEER(FeedForwardKind.PEER, "shakespeare-peer-lm.zip", 3000,
            new Figures(1.7274, new double[] {128, 128}, new double[] {0.1334, 0.1002}));

    /** Window length of the stated figures. */
    public static final int EVAL_LENGTH = 64;
    /** Windows per batch when measuring (the figures do not depend on it beyond float rounding). */
    public static final int EVAL_BATCH_SIZE = 64;

    private final FeedForwardKind feedForward;
    private final String resource;
    private final int steps;
    private final Figures figures;

    PretrainedLanguageModel(FeedForwardKind feedForward, String resource, int steps, Figures figures) {
        this.feedForward = feedForward;
        this.resource = resource;
        this.steps = steps;
        this.figures = figures;
    }

    /**
     * What a model does on the validation split.
     *
     * @param validationLoss  mean cross-entropy per character, nats (a uniform guess over 65 characters: 4.17)
     * @param expertsPerToken block i's feed-forward layer: mean experts each token used (PEER: retrievals per token)
     * @param loadKl          block i's: KL divergence of the expert load to uniform, nats (0 is perfectly even)
     */
    public record Figures(double validationLoss, double[] expertsPerToken, double[] loadKl) {

        public Figures {
            expertsPerToken = expertsPerToken.clone();
            loadKl = loadKl.clone();
        }

        @Override
        public double[] expertsPerToken() {
            return expertsPerToken.clone();
        }

        @Override
        public double[] loadKl() {
            return loadKl.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Figures f && Double.compare(validationLoss, f.validationLoss) == 0
                    && Arrays.equals(expertsPerToken, f.expertsPerToken) && Arrays.equals(loadKl, f.loadKl);
        }

        @Override
        public int hashCode() {
            return 31 * (31 * Double.hashCode(validationLoss) + Arrays.hashCode(expertsPerToken))
                    + Arrays.hashCode(loadKl);
        }

        @Override
        public String toString() {
            return String.format("validation loss %.4f, experts/token %s, load KL %s", validationLoss,
                    Arrays.toString(expertsPerToken), Arrays.toString(loadKl));
        }
    }

    /** The feed-forward kind of both blocks. */
    public FeedForwardKind feedForward() {
        return feedForward;
    }

    /** The classpath resource holding the model. */
    public String resource() {
        return "/io/github/dl4jmoe/zoo/" + resource;
    }

    /** Training steps of 32 x 64 characters. */
    public int steps() {
        return steps;
    }

    /** The figures measured when the model was trained, checked by a test. */
    public Figures figures() {
        return figures;
    }

    /** The pretrained model whose blocks are all of {@code kind}, if one ships. */
    public static Optional<PretrainedLanguageModel> of(FeedForwardKind kind) {
        return Arrays.stream(values()).filter(m -> m.feedForward == kind).findFirst();
    }

    /** Reads the model and its vocabulary from the classpath. */
    public CharLanguageModel load() throws IOException {
        try (InputStream in = PretrainedLanguageModel.class.getResourceAsStream(resource())) {
            if (in == null) {
                throw new IOException("PretrainedLanguageModel." + this + ": resource " + resource()
                        + " is missing from the classpath (is dl4j-moe-zoo's jar complete?)");
            }
            Path tmp = Files.createTempFile("dl4j-moe-pretrained", ".zip");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                return CharLanguageModel.load(tmp);
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /**
     * Measures a {@link MoETransformerLM} language model on the whole validation split of the bundled text, as the
     * stated {@link #figures()} were measured: the loss over every window, and each block's routing over every token.
     *
     * @throws IllegalArgumentException if a block's feed-forward layer reports no routing (a dense block)
     */
    public static Figures measure(CharLanguageModel model) {
        CharacterIterator validation = CharacterIterator.builder().vocabulary(model.vocabulary())
                .sequenceLength(EVAL_LENGTH).batchSize(EVAL_BATCH_SIZE).split(CharacterIterator.Split.VALIDATION)
                .shuffle(false).build();
        ComputationGraph network = model.network();
        Map<String, Layer> layers = ModelLayers.byName(network);
        List<Layer> blocks = new ArrayList<>();
        for (int i = 0; layers.containsKey(MoETransformerLM.feedForwardLayerName(i)); i++) {
            blocks.add(layers.get(MoETransformerLM.feedForwardLayerName(i)));
        }
        RoutingStatistics[] routing = new RoutingStatistics[blocks.size()];
        List<List<int[][]>> retrieved = new ArrayList<>();
        blocks.forEach(b -> retrieved.add(new ArrayList<>()));
        CharLanguageModel.LossSum loss = CharLanguageModel.LossSum.NONE;
        while (validation.hasNext()) {
            DataSet batch = validation.next();
            loss = loss.plus(model.loss(batch));
            for (int i = 0; i < blocks.size(); i++) {
                Optional<RoutingStatistics> s = RoutingStatistics.of(blocks.get(i));
                if (s.isPresent()) {
                    routing[i] = routing[i] == null ? s.get() : routing[i].merge(s.get());
                }
                ExpertUsage.retrievedExperts(blocks.get(i)).ifPresent(retrieved.get(i)::add);
            }
        }
        double[] experts = new double[blocks.size()];
        double[] kl = new double[blocks.size()];
        for (int i = 0; i < blocks.size(); i++) {
            if (routing[i] != null) {
                experts[i] = routing[i].meanExpertsPerToken();
                kl[i] = routing[i].klToUniform();
            } else if (!retrieved.get(i).isEmpty()) {
                int[][] rows = retrieved.get(i).stream().flatMap(Arrays::stream).toArray(int[][]::new);
                ProductKeyLayer peer = (ProductKeyLayer) blocks.get(i).conf().getLayer();
                ExpertUsage usage = ExpertUsage.of(rows, peer.getNumExperts(), peer.getHeads());
                experts[i] = (double) usage.retrievals() * peer.getHeads() / rows.length;   // rows: tokens x heads
                kl[i] = usage.unevenness();
            } else {
                throw new IllegalArgumentException("PretrainedLanguageModel: layer " + ModelLayers.name(blocks.get(i))
                        + " reports no routing (a dense block has no experts to measure)");
            }
        }
        return new Figures(loss.mean(), experts, kl);
    }
}
