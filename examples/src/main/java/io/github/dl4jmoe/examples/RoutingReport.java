package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.runtime.ModelLayers;
import io.github.dl4jmoe.stats.ExpertUsage;
import io.github.dl4jmoe.stats.RoutingStatistics;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * Routing statistics of a model over a data set, merged over every batch, written as CSV files and PNG charts.
 *
 * <p>{@link #collect} runs the model in inference, batch by batch, and after each batch reads every MoE layer's
 * {@link RoutingStatistics} (summed with {@link RoutingStatistics#merge}) and every PEER layer's retrieved experts.
 * PEER usage is not mergeable from {@link ExpertUsage}'s fields (used fractions count distinct experts), so the
 * retrieved ids of all batches are kept and {@link ExpertUsage#of(int[][], long, int)} is applied to all of them once:
 * the usage over the whole run is exact (memory: batches x tokens x heads x k ints).
 *
 * <p>{@link #write} produces, in one directory:
 * <ul>
 *   <li>{@value #LOAD_CSV} ({@code layer,expert,load,load_fraction}) and one {@code expert-load-<layer>.png} bar chart
 *       per MoE layer: tokens routed to each expert;</li>
 *   <li>{@value #HISTOGRAM_CSV} ({@code layer,experts,tokens}) and one {@code experts-per-token-<layer>.png} per top-p
 *       layer: how many tokens used j experts, {@code j = 0..E} (Huang et al. 2024, Figure 3);</li>
 *   <li>{@value #MEAN_CSV} and {@value #MEAN_PNG}: the average number of experts per token of every MoE layer;</li>
 *   <li>if the model has PEER layers, {@value #PEER_CSV} and {@value #PEER_HEADS_CSV} (He 2024, Table 2: fraction
 *       of experts used and unevenness, KL of the retrieval counts to uniform).</li>
 * </ul>
 */
public final class RoutingReport {

    public static final String LOAD_CSV = "expert-load.csv";
    public static final String HISTOGRAM_CSV = "experts-per-token-histogram.csv";
    public static final String MEAN_CSV = "experts-per-token.csv";
    public static final String PEER_CSV = "peer-usage.csv";
    public static final String PEER_HEADS_CSV = "peer-head-usage.csv";
    public static final String MEAN_PNG = "experts-per-token.png";
    public static final String LOAD_PNG_PREFIX = "expert-load-";
    public static final String HISTOGRAM_PNG_PREFIX = "experts-per-token-";

    public static final String LOAD_HEADER = "layer,expert,load,load_fraction";
    public static final String HISTOGRAM_HEADER = "layer,experts,tokens";
    public static final String MEAN_HEADER =
            "layer,routing,num_experts,tokens,mean_experts_per_token,dropped_pairs,load_entropy,kl_to_uniform";
    public static final String PEER_HEADER =
            "layer,num_experts,heads,top_k,tokens,retrievals,used_fraction,unevenness";
    public static final String PEER_HEADS_HEADER = "layer,head,used_fraction";

    /** Chart size in pixels. */
    public static final int CHART_WIDTH = 900;
    public static final int CHART_HEIGHT = 540;
    /** Above this many bars the category labels are turned upright so they do not overlap. */
    private static final int UPRIGHT_LABELS_ABOVE = 16;
    private static final int UPRIGHT = 90;

    /** One MoE layer: its merged statistics, a short description of its routing, whether the rule is top-p. */
    public record MoeLayerReport(String layer, String routing, boolean dynamic, RoutingStatistics statistics) {
    }

    /** One PEER layer: its usage over all batches, exact. */
    public record PeerLayerReport(String layer, int topK, ExpertUsage usage) {
        /** Tokens that went through the layer. */
        public long tokens() {
            return usage.retrievals() / ((long) usage.perHeadUsage().length * topK);
        }
    }

    private final int batches;
    private final Map<String, MoeLayerReport> moe;
    private final Map<String, PeerLayerReport> peer;

    private RoutingReport(int batches, Map<String, MoeLayerReport> moe, Map<String, PeerLayerReport> peer) {
        this.batches = batches;
        this.moe = Collections.unmodifiableMap(moe);
        this.peer = Collections.unmodifiableMap(peer);
    }

    /**
     * Runs {@code model} (a {@link MultiLayerNetwork} or single-input {@link ComputationGraph}) in inference over
     * {@code data} from its start, at most {@code maxBatches} batches, with the batches' feature and label masks
     * (masked time steps are not routed and not counted).
     *
     * @throws IllegalArgumentException if {@code maxBatches < 1}, the iterator is empty, or no layer of the model
     *                                  reported MoE or PEER statistics
     */
    public static RoutingReport collect(Model model, DataSetIterator data, int maxBatches) {
        if (maxBatches < 1) {
            throw new IllegalArgumentException("RoutingReport: maxBatches must be at least 1, got " + maxBatches);
        }
        if (!(model instanceof MultiLayerNetwork) && !(model instanceof ComputationGraph)) {
            throw new IllegalArgumentException("RoutingReport: model must be a MultiLayerNetwork or ComputationGraph, "
                    + "got " + model.getClass().getName());
        }
        if (data.resetSupported()) {
            data.reset();
        }
        Map<String, RoutingStatistics> merged = new LinkedHashMap<>();
        Map<String, List<int[][]>> retrieved = new LinkedHashMap<>();
        int batches = 0;
        while (batches < maxBatches && data.hasNext()) {
            infer(model, data.next());
            batches++;
            RoutingStatistics.of(model).forEach((layer, s) -> merged.merge(layer, s, RoutingStatistics::merge));
            ModelLayers.byName(model).forEach((name, layer) -> ExpertUsage.retrievedExperts(layer).ifPresent(ids ->
                    retrieved.computeIfAbsent(name, k -> new ArrayList<>()).add(ids)));
        }
        if (batches == 0) {
            throw new IllegalArgumentException("RoutingReport: the data iterator has no batch (use a longer text or a "
                    + "smaller batch size)");
        }
        Map<String, MoeLayerReport> moe = new LinkedHashMap<>();
        Map<String, PeerLayerReport> peer = new LinkedHashMap<>();
        for (Map.Entry<String, Layer> named : ModelLayers.byName(model).entrySet()) {
            String name = named.getKey();
            org.deeplearning4j.nn.conf.layers.Layer conf = named.getValue().conf().getLayer();
            if (merged.containsKey(name)) {
                boolean dynamic = conf instanceof MoeFeedForward m && m.getRouter().isDynamic();
                moe.put(name, new MoeLayerReport(name, routing(conf), dynamic, merged.get(name)));
            }
            if (retrieved.containsKey(name) && conf instanceof PeerLayer p) {
                int[][] all = retrieved.get(name).stream().flatMap(Stream::of).toArray(int[][]::new);
                peer.put(name, new PeerLayerReport(name, p.getTopK(),
                        ExpertUsage.of(all, p.getNumExperts(), p.getHeads())));
            }
        }
        if (moe.isEmpty() && peer.isEmpty()) {
            throw new IllegalArgumentException("RoutingReport: no layer of the model reported routing statistics; "
                    + "it needs a MoeFeedForward, FineRMoeLayer or PeerLayer");
        }
        return new RoutingReport(batches, moe, peer);
    }

    private static void infer(Model model, DataSet batch) {
        INDArray features = batch.getFeatures();
        INDArray featuresMask = batch.getFeaturesMaskArray();
        INDArray labelsMask = batch.getLabelsMaskArray();
        if (model instanceof MultiLayerNetwork net) {
            net.output(features, false, featuresMask, labelsMask);
        } else {
            ((ComputationGraph) model).output(false, new INDArray[] {features},
                    featuresMask == null ? null : new INDArray[] {featuresMask},
                    labelsMask == null ? null : new INDArray[] {labelsMask});
        }
    }

    /** A short, comma-free description of a layer's routing rule, for CSV files and chart titles. */
    static String routing(org.deeplearning4j.nn.conf.layers.Layer conf) {
        if (conf instanceof MoeFeedForward m) {
            if (m.getRouter() instanceof TopPRouter p) {
                return "top-p p=" + p.getP()
                        + (p.getMaxExperts() == TopPRouter.NO_CAP ? "" : " max=" + p.getMaxExperts());
            }
            if (m.getRouter() instanceof TopKRouter k) {
                return "top-k k=" + k.getK();
            }
            return m.getRouter().getClass().getSimpleName();
        }
        if (conf instanceof FineRMoeLayer f) {
            return "FineRMoE k=" + f.expertsPerToken();
        }
        return conf.getClass().getSimpleName();
    }

    /** Batches read. */
    public int batches() {
        return batches;
    }

    /** MoE layers by name, in network order. */
    public Map<String, MoeLayerReport> moe() {
        return moe;
    }

    /** PEER layers by name, in network order. */
    public Map<String, PeerLayerReport> peer() {
        return peer;
    }

    /** One line per layer, e.g. {@code layer0  top-p p=0.4  E=8  tokens=1024  experts/token=1.873 ...}. */
    public List<String> summary() {
        List<String> lines = new ArrayList<>();
        moe.values().forEach(m -> lines.add(String.format(Locale.ROOT,
                "%s  %s  E=%d  tokens=%d  experts/token=%.3f  dropped pairs=%d  load KL to uniform=%.4f", m.layer(),
                m.routing(), m.statistics().load().length, m.statistics().tokens(),
                m.statistics().meanExpertsPerToken(), m.statistics().droppedPairs(), m.statistics().klToUniform())));
        peer.values().forEach(p -> lines.add(String.format(Locale.ROOT,
                "%s  PEER N=%d h=%d k=%d  tokens=%d  experts used=%.4f  unevenness=%.4f", p.layer(),
                p.usage().numExperts(), p.usage().perHeadUsage().length, p.topK(), p.tokens(), p.usage().usedFraction(),
                p.usage().unevenness())));
        return lines;
    }

    /**
     * Writes the CSV files and charts into {@code dir} (created if needed; existing files of the same name are
     * replaced) and returns their paths, CSV files first. PEER files only if the model has PEER layers; histograms
     * only for top-p layers (a top-k layer's histogram is a single bar).
     */
    public List<Path> write(Path dir) throws IOException {
        Files.createDirectories(dir);
        List<Path> csv = new ArrayList<>();
        List<Path> png = new ArrayList<>();
        Set<String> fileNames = new LinkedHashSet<>();
        if (!moe.isEmpty()) {
            csv.add(writeLoadCsv(dir.resolve(LOAD_CSV)));
            csv.add(writeHistogramCsv(dir.resolve(HISTOGRAM_CSV)));
            csv.add(writeMeanCsv(dir.resolve(MEAN_CSV)));
            for (MoeLayerReport m : moe.values()) {
                String file = unique(fileNames, fileName(m.layer()));
                png.add(save(loadChart(m), dir.resolve(LOAD_PNG_PREFIX + file + ".png")));
                if (m.dynamic()) {
                    png.add(save(histogramChart(m), dir.resolve(HISTOGRAM_PNG_PREFIX + file + ".png")));
                }
            }
            png.add(save(meanChart(), dir.resolve(MEAN_PNG)));
        }
        if (!peer.isEmpty()) {
            csv.add(writePeerCsv(dir.resolve(PEER_CSV)));
            csv.add(writePeerHeadsCsv(dir.resolve(PEER_HEADS_CSV)));
        }
        List<Path> all = new ArrayList<>(csv);
        all.addAll(png);
        return all;
    }

    private Path writeLoadCsv(Path file) throws IOException {
        try (PrintWriter out = csvWriter(file, LOAD_HEADER)) {
            for (MoeLayerReport m : moe.values()) {
                long[] load = m.statistics().load();
                for (int e = 0; e < load.length; e++) {
                    out.printf(Locale.ROOT, "%s,%d,%d,%.6f%n", csvField(m.layer()), e, load[e],
                            m.statistics().tokens() == 0 ? 0.0 : load[e] / (double) m.statistics().tokens());
                }
            }
        }
        return file;
    }

    private Path writeHistogramCsv(Path file) throws IOException {
        try (PrintWriter out = csvWriter(file, HISTOGRAM_HEADER)) {
            for (MoeLayerReport m : moe.values()) {
                if (!m.dynamic()) {
                    continue;
                }
                long[] counts = m.statistics().expertsPerTokenCounts();
                for (int j = 0; j < counts.length; j++) {
                    out.printf(Locale.ROOT, "%s,%d,%d%n", csvField(m.layer()), j, counts[j]);
                }
            }
        }
        return file;
    }

    private Path writeMeanCsv(Path file) throws IOException {
        try (PrintWriter out = csvWriter(file, MEAN_HEADER)) {
            for (MoeLayerReport m : moe.values()) {
                RoutingStatistics s = m.statistics();
                out.printf(Locale.ROOT, "%s,%s,%d,%d,%.6f,%d,%.6f,%.6f%n", csvField(m.layer()), csvField(m.routing()),
                        s.load().length, s.tokens(), s.meanExpertsPerToken(), s.droppedPairs(), s.loadEntropy(),
                        s.klToUniform());
            }
        }
        return file;
    }

    private Path writePeerCsv(Path file) throws IOException {
        try (PrintWriter out = csvWriter(file, PEER_HEADER)) {
            for (PeerLayerReport p : peer.values()) {
                ExpertUsage u = p.usage();
                out.printf(Locale.ROOT, "%s,%d,%d,%d,%d,%d,%.6f,%.6f%n", csvField(p.layer()), u.numExperts(),
                        u.perHeadUsage().length, p.topK(), p.tokens(), u.retrievals(), u.usedFraction(),
                        u.unevenness());
            }
        }
        return file;
    }

    private Path writePeerHeadsCsv(Path file) throws IOException {
        try (PrintWriter out = csvWriter(file, PEER_HEADS_HEADER)) {
            for (PeerLayerReport p : peer.values()) {
                double[] heads = p.usage().perHeadUsage();
                for (int h = 0; h < heads.length; h++) {
                    out.printf(Locale.ROOT, "%s,%d,%.6f%n", csvField(p.layer()), h, heads[h]);
                }
            }
        }
        return file;
    }

    private static PrintWriter csvWriter(Path file, String header) throws IOException {
        PrintWriter out = new PrintWriter(Files.newBufferedWriter(file, StandardCharsets.UTF_8));
        out.println(header);
        return out;
    }

    /** Quotes a field that holds a comma, quote or line break (RFC 4180). */
    static String csvField(String value) {
        if (value.indexOf(',') < 0 && value.indexOf('"') < 0 && value.indexOf('\n') < 0 && value.indexOf('\r') < 0) {
            return value;
        }
        return '"' + value.replace("\"", "\"\"") + '"';
    }

    /** A layer name as a file-name part: anything but letters, digits, '.', '_' and '-' becomes '_'. */
    static String fileName(String layer) {
        return layer.replaceAll("[^A-Za-z0-9._-]", "_");
    }

    private static String unique(Set<String> taken, String name) {
        String candidate = name;
        for (int i = 2; !taken.add(candidate); i++) {
            candidate = name + "-" + i;
        }
        return candidate;
    }

    private CategoryChart loadChart(MoeLayerReport m) {
        long[] load = m.statistics().load();
        CategoryChart chart = chart(String.format(Locale.ROOT, "Expert load of %s (%s, %d tokens)", m.layer(),
                m.routing(), m.statistics().tokens()), "expert", "tokens routed to the expert", load.length);
        List<Integer> experts = new ArrayList<>();
        List<Long> tokens = new ArrayList<>();
        for (int e = 0; e < load.length; e++) {
            experts.add(e);
            tokens.add(load[e]);
        }
        chart.addSeries("load", experts, tokens);
        return chart;
    }

    private CategoryChart histogramChart(MoeLayerReport m) {
        long[] counts = m.statistics().expertsPerTokenCounts();
        CategoryChart chart = chart(String.format(Locale.ROOT, "Experts per token in %s (%s, mean %.2f)", m.layer(),
                m.routing(), m.statistics().meanExpertsPerToken()), "experts used by a token", "tokens", counts.length);
        List<Integer> experts = new ArrayList<>();
        List<Long> tokens = new ArrayList<>();
        for (int j = 0; j < counts.length; j++) {
            experts.add(j);
            tokens.add(counts[j]);
        }
        chart.addSeries("tokens", experts, tokens);
        return chart;
    }

    private CategoryChart meanChart() {
        CategoryChart chart = chart("Average experts per token by layer", "layer", "mean experts per token",
                moe.size());
        List<String> layers = new ArrayList<>();
        List<Double> means = new ArrayList<>();
        for (MoeLayerReport m : moe.values()) {
            layers.add(m.layer() + " (" + m.routing() + ")");
            means.add(m.statistics().meanExpertsPerToken());
        }
        chart.addSeries("mean experts per token", layers, means);
        return chart;
    }

    private static CategoryChart chart(String title, String xTitle, String yTitle, int bars) {
        CategoryChart chart = new CategoryChartBuilder().width(CHART_WIDTH).height(CHART_HEIGHT).title(title)
                .xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setYAxisMin(0.0);
        if (bars > UPRIGHT_LABELS_ABOVE) {
            chart.getStyler().setXAxisLabelRotation(UPRIGHT);
        }
        return chart;
    }

    private static Path save(CategoryChart chart, Path file) throws IOException {
        try (OutputStream out = Files.newOutputStream(file)) {
            BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
        }
        return file;
    }
}
