package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import javax.imageio.ImageIO;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import picocli.CommandLine;

/**
 * Runs {@code stats} on tiny networks trained for two steps on a generated text, and checks every file it writes.
 */
class StatsCommandTest {

    private static final String ALPHABET = "abcdefgh .";
    private static final int TEXT_LENGTH = 2000;
    private static final int EXPERTS = 4;
    private static final int TOP_K = 2;
    private static final int PEER_EXPERTS = 16;
    private static final int PEER_HEADS = 2;
    private static final int PEER_TOP_K = 2;
    private static final int SEQUENCE_LENGTH = 16;
    private static final int BATCH_SIZE = 4;

    @TempDir
    static Path shared;
    static Path textFile;
    /** Characters of the validation split, the vocabulary size. */
    static String validationText;
    static int vocabulary;
    /** One-hot input -> top-p MoE -> top-k MoE -> PEER -> softmax, trained and saved. */
    static Path oneHotModel;

    @BeforeAll
    static void trainAndSave() throws IOException {
        Random random = new Random(1);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < TEXT_LENGTH; i++) {
            text.append(ALPHABET.charAt(random.nextInt(ALPHABET.length())));
        }
        textFile = shared.resolve("text.txt");
        Files.writeString(textFile, text, StandardCharsets.UTF_8);
        CharacterIterator validation = iterator(true, CharacterIterator.Split.VALIDATION);
        validationText = validation.text();
        vocabulary = validation.vocabulary().size();
        assertEquals(ALPHABET.length(), vocabulary);

        MultiLayerNetwork net = new MultiLayerNetwork(base().list()
                .layer(new MoeFeedForward.Builder().name("moe-top-p").nOut(8).numExperts(EXPERTS).expertHidden(4)
                        .router(new TopPRouter(0.4)).build())
                .layer(new MoeFeedForward.Builder().name("moe-top-k").numExperts(EXPERTS).expertHidden(4)
                        .router(new TopKRouter(TOP_K)).build())
                .layer(new PeerLayer.Builder().name("peer").numExperts(PEER_EXPERTS).heads(PEER_HEADS).topK(PEER_TOP_K)
                        .keySize(4).build())
                .layer(output())
                .setInputType(InputType.recurrent(vocabulary))
                .build());
        net.init();
        oneHotModel = save(net, true, "one-hot.zip");
    }

    private static NeuralNetConfiguration.Builder base() {
        return new NeuralNetConfiguration.Builder().seed(7).dataType(DataType.FLOAT).updater(new Adam(1e-2));
    }

    private static RnnOutputLayer output() {
        return new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(ALPHABET.length())
                .activation(Activation.SOFTMAX).build();
    }

    private static CharacterIterator iterator(boolean oneHot, CharacterIterator.Split split) {
        return CharacterIterator.builder().file(textFile).sequenceLength(SEQUENCE_LENGTH).batchSize(BATCH_SIZE)
                .split(split).oneHotFeatures(oneHot).build();
    }

    /** Two training steps, then ModelSerializer. */
    private static Path save(Model model, boolean oneHot, String name) throws IOException {
        CharacterIterator train = iterator(oneHot, CharacterIterator.Split.TRAIN);
        for (int step = 0; step < 2; step++) {
            if (model instanceof MultiLayerNetwork net) {
                net.fit(train.next());
            } else {
                ((ComputationGraph) model).fit(train.next());
            }
        }
        Path file = shared.resolve(name);
        ModelSerializer.writeModel(model, file.toFile(), true);
        return file;
    }

    private static int stats(StringWriter err, String... args) {
        CommandLine cl = MoeExamples.commandLine();
        cl.setErr(new PrintWriter(err, true));
        List<String> all = new ArrayList<>(List.of("stats"));
        all.addAll(List.of(args));
        return cl.execute(all.toArray(String[]::new));
    }

    /** Rows of a CSV file after asserting its header; fields split at commas (no field here is quoted). */
    private static List<String[]> rows(Path csv, String header) throws IOException {
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        assertEquals(header, lines.get(0), csv.getFileName().toString());
        List<String[]> out = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) {
            out.add(line.split(",", -1));
        }
        return out;
    }

    private static void assertPng(Path file) throws IOException {
        assertTrue(Files.size(file) > 0, file + " is empty");
        BufferedImage image = ImageIO.read(file.toFile());
        assertNotNull(image, file + " is not a readable image");
        assertEquals(RoutingReport.CHART_WIDTH, image.getWidth(), file.toString());
        assertEquals(RoutingReport.CHART_HEIGHT, image.getHeight(), file.toString());
    }

    @Test
    void writesEveryCsvAndChartWithConsistentCounts(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("report");
        StringWriter err = new StringWriter();
        assertEquals(0, stats(err, "--model", oneHotModel.toString(), "--text", textFile.toString(), "--out",
                out.toString(), "--batches", "0", "--batch-size", String.valueOf(BATCH_SIZE), "--sequence-length",
                String.valueOf(SEQUENCE_LENGTH)), err.toString());
        long tokens = validationText.length() - 1;       // every prediction of the split, the masked tail excluded

        Map<String, Long> loadSums = new HashMap<>();
        List<String[]> load = rows(out.resolve(RoutingReport.LOAD_CSV), RoutingReport.LOAD_HEADER);
        assertEquals(2 * EXPERTS, load.size());
        for (String[] row : load) {
            long l = Long.parseLong(row[2]);
            assertTrue(l >= 0 && l <= tokens);
            assertEquals(l / (double) tokens, Double.parseDouble(row[3]), 1e-6);
            loadSums.merge(row[0], l, Long::sum);
        }
        assertEquals(tokens * TOP_K, loadSums.get("moe-top-k"), "top-k: every token uses k experts");

        List<String[]> histogram = rows(out.resolve(RoutingReport.HISTOGRAM_CSV), RoutingReport.HISTOGRAM_HEADER);
        assertEquals(EXPERTS + 1, histogram.size(), "one row per j = 0..E, top-p layer only");
        long histogramTokens = 0;
        long selectedPairs = 0;
        for (String[] row : histogram) {
            assertEquals("moe-top-p", row[0]);
            long count = Long.parseLong(row[2]);
            histogramTokens += count;
            selectedPairs += Long.parseLong(row[1]) * count;
        }
        assertEquals(tokens, histogramTokens, "the histogram counts every token once");
        assertEquals(selectedPairs, loadSums.get("moe-top-p"), "loads sum to tokens x experts per token");
        assertEquals(0, Long.parseLong(histogram.get(0)[2]), "top-p keeps at least one expert");

        List<String[]> means = rows(out.resolve(RoutingReport.MEAN_CSV), RoutingReport.MEAN_HEADER);
        assertEquals(List.of("moe-top-p", "moe-top-k"), means.stream().map(r -> r[0]).toList());
        assertEquals("top-p p=0.4", means.get(0)[1]);
        assertEquals("top-k k=2", means.get(1)[1]);
        for (String[] row : means) {
            assertEquals(String.valueOf(EXPERTS), row[2]);
            assertEquals(tokens, Long.parseLong(row[3]));
            double mean = Double.parseDouble(row[4]);
            assertTrue(mean >= 1 && mean <= EXPERTS, "mean experts per token " + mean);
            assertEquals(loadSums.get(row[0]) / (double) tokens, mean, 1e-5);
            assertEquals("0", row[5], "dropless: no dropped pairs");
        }
        assertEquals(TOP_K, Double.parseDouble(means.get(1)[4]), 0.0);

        List<String[]> peer = rows(out.resolve(RoutingReport.PEER_CSV), RoutingReport.PEER_HEADER);
        assertEquals(1, peer.size());
        String[] p = peer.get(0);
        assertEquals("peer", p[0]);
        assertEquals(List.of(String.valueOf(PEER_EXPERTS), String.valueOf(PEER_HEADS), String.valueOf(PEER_TOP_K),
                String.valueOf(tokens), String.valueOf(tokens * PEER_HEADS * PEER_TOP_K)), List.of(p).subList(1, 6));
        double used = Double.parseDouble(p[6]);
        double unevenness = Double.parseDouble(p[7]);
        assertTrue(used > 0 && used <= 1, "used fraction " + used);
        assertTrue(unevenness >= 0 && unevenness <= Math.log(PEER_EXPERTS), "unevenness " + unevenness);
        List<String[]> heads = rows(out.resolve(RoutingReport.PEER_HEADS_CSV), RoutingReport.PEER_HEADS_HEADER);
        assertEquals(PEER_HEADS, heads.size());
        for (String[] row : heads) {
            double headUsed = Double.parseDouble(row[2]);
            assertTrue(headUsed > 0 && headUsed <= used + 1e-9, "a head uses a subset of the layer's experts");
        }

        for (String png : List.of("expert-load-moe-top-p.png", "expert-load-moe-top-k.png",
                "experts-per-token-moe-top-p.png", RoutingReport.MEAN_PNG)) {
            assertPng(out.resolve(png));
        }
        assertFalse(Files.exists(out.resolve("experts-per-token-moe-top-k.png")), "no histogram for top-k");
        try (var files = Files.list(out)) {
            assertEquals(5 + 4, files.count(), "5 CSV files and 4 charts");
        }
    }

    @Test
    void runReadsAtMostTheRequestedBatches(@TempDir Path dir) throws IOException {
        StatsCommand command = new StatsCommand();
        new CommandLine(command).parseArgs("--model", oneHotModel.toString(), "--text", textFile.toString(), "--out",
                dir.toString(), "--batches", "2", "--batch-size", "3", "--sequence-length", "8");
        StatsCommand.Result r = command.run();
        assertTrue(r.oneHot(), "a model without an embedding layer gets one-hot features");
        assertEquals(2, r.report().batches());
        assertEquals(2 * 3 * 8, r.report().moe().get("moe-top-p").statistics().tokens(), "two full batches");
        assertEquals(3, r.report().summary().size(), "one line per MoE or PEER layer");
        assertTrue(r.report().summary().get(0).startsWith("moe-top-p  top-p p=0.4  E=4  tokens=48  experts/token="),
                r.report().summary().get(0));
        assertEquals(9, r.files().size());
    }

    @Test
    void embeddingModelsGetIndicesAndGraphsLoadAsGraphs(@TempDir Path dir) throws IOException {
        // no setInputType: InputType.recurrent(1) would overwrite the embedding's nIn with 1; without it the output
        // layer must be told the embedding's [mb, nOut, T] format
        MultiLayerNetwork embedded = new MultiLayerNetwork(base().list()
                .layer(new EmbeddingSequenceLayer.Builder().nIn(vocabulary).nOut(6).build())
                .layer(new MoeFeedForward.Builder().nIn(6).numExperts(EXPERTS).expertHidden(3)
                        .router(new TopPRouter(0.5)).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(6).nOut(vocabulary)
                        .dataFormat(RNNFormat.NCW).activation(Activation.SOFTMAX).build())
                .build());
        embedded.init();
        Path embeddedZip = save(embedded, false, "embedded.zip");
        StatsCommand command = new StatsCommand();
        new CommandLine(command).parseArgs("--model", embeddedZip.toString(), "--text", textFile.toString(), "--out",
                dir.resolve("embedded").toString(), "--batches", "1", "--batch-size", "2", "--sequence-length", "8");
        StatsCommand.Result r = command.run();
        assertFalse(r.oneHot(), "an embedding first layer gets indices");
        assertEquals(16, r.report().moe().get("layer1").statistics().tokens());

        ComputationGraphConfiguration conf = base().graphBuilder().addInputs("chars")
                .addLayer("moe", new MoeFeedForward.Builder().numExperts(EXPERTS).expertHidden(3)
                        .router(new TopPRouter(0.4)).build(), "chars")
                .addLayer("out", output(), "moe")
                .setOutputs("out")
                .setInputTypes(InputType.recurrent(vocabulary))
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        Path graphZip = save(graph, true, "graph.zip");
        Path out = dir.resolve("graph");
        assertEquals(0, stats(new StringWriter(), "--model", graphZip.toString(), "--text", textFile.toString(),
                "--out", out.toString(), "--batches", "1", "--batch-size", "2", "--sequence-length", "8"));
        List<String[]> means = rows(out.resolve(RoutingReport.MEAN_CSV), RoutingReport.MEAN_HEADER);
        assertEquals("moe", means.get(0)[0]);
        assertEquals("16", means.get(0)[3]);
        assertFalse(Files.exists(out.resolve(RoutingReport.PEER_CSV)), "no PEER layer, no PEER files");
        assertPng(out.resolve("experts-per-token-moe.png"));
    }

    @Test
    void missingModelFileIsAUsageError(@TempDir Path dir) {
        StringWriter err = new StringWriter();
        Path missing = dir.resolve("none.zip");
        assertEquals(2, stats(err, "--model", missing.toString(), "--out", dir.toString()));
        assertTrue(err.toString().contains("--model: no file at " + missing.toAbsolutePath()
                + " (pass a model saved with ModelSerializer"), err.toString());
    }

    @Test
    void aFileThatIsNotAZipIsAUsageError(@TempDir Path dir) throws IOException {
        Path notZip = Files.writeString(dir.resolve("model.zip"), "not a model");
        StringWriter err = new StringWriter();
        assertEquals(2, stats(err, "--model", notZip.toString(), "--out", dir.toString()));
        assertTrue(err.toString().contains("--model: " + notZip + " is not a zip file"), err.toString());
    }

    @Test
    void aZipWithoutAConfigurationIsAUsageError(@TempDir Path dir) throws IOException {
        Path zip = dir.resolve("other.zip");
        try (OutputStream file = Files.newOutputStream(zip); ZipOutputStream out = new ZipOutputStream(file)) {
            out.putNextEntry(new ZipEntry("readme.txt"));
            out.write("hello".getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
        }
        StringWriter err = new StringWriter();
        assertEquals(2, stats(err, "--model", zip.toString(), "--out", dir.toString()));
        assertTrue(err.toString().contains("is a zip without configuration.json, so not a DL4J model"), err.toString());
    }

    @Test
    void aTextWithAnotherVocabularyIsAUsageError(@TempDir Path dir) {
        StringWriter err = new StringWriter();
        // default text: the bundled Shakespeare, 65 distinct characters; the model was trained on 10
        assertEquals(2, stats(err, "--model", oneHotModel.toString(), "--out", dir.toString(), "--batches", "1"));
        assertTrue(err.toString().contains("--model: its first layer (moe-top-p, MoeFeedForward) takes 10 input "
                + "features, but the text has 65 distinct characters (pass --text with the text the model was trained "
                + "on)"), err.toString());
    }

    @Test
    void missingTextFileIsAUsageError(@TempDir Path dir) {
        StringWriter err = new StringWriter();
        Path missing = dir.resolve("none.txt");
        assertEquals(2, stats(err, "--model", oneHotModel.toString(), "--text", missing.toString(), "--out",
                dir.toString()));
        assertTrue(err.toString().contains("--text: no file at " + missing.toAbsolutePath()), err.toString());
    }

    @Test
    void aModelWithoutMoeOrPeerLayersIsAUsageError(@TempDir Path dir) throws IOException {
        MultiLayerNetwork dense = new MultiLayerNetwork(base().list()
                .layer(new DenseLayer.Builder().nOut(4).activation(Activation.TANH).build())
                .layer(output())
                .setInputType(InputType.recurrent(vocabulary))
                .build());
        dense.init();
        Path zip = save(dense, true, "dense.zip");
        StringWriter err = new StringWriter();
        assertEquals(2, stats(err, "--model", zip.toString(), "--text", textFile.toString(), "--out", dir.toString(),
                "--batches", "1", "--batch-size", "2", "--sequence-length", "4"));
        assertTrue(err.toString().contains("no layer of the model reported routing statistics; it needs a "
                + "MoeFeedForward, FineRMoeLayer or PeerLayer"), err.toString());
    }

    @Test
    void negativeBatchesIsAUsageError(@TempDir Path dir) {
        StringWriter err = new StringWriter();
        assertEquals(2, stats(err, "--model", oneHotModel.toString(), "--out", dir.toString(), "--batches", "-1"));
        assertTrue(err.toString().contains("--batches must be 0 (all) or more, got -1"), err.toString());
    }
}
