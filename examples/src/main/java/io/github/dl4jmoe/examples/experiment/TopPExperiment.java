package io.github.dl4jmoe.examples.experiment;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.examples.experiment.ExperimentReport.Series;
import io.github.dl4jmoe.experts.RoutedExperts;
import io.github.dl4jmoe.routing.Router;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.runtime.ModelLayers;
import io.github.dl4jmoe.runtime.MoeLayerRuntime;
import io.github.dl4jmoe.stats.RoutingStatistics;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import org.apache.commons.math3.stat.correlation.SpearmansCorrelation;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * "Harder tasks need more experts: dynamic routing in MoE models" (Huang et al. 2024): top-p routing activates as many
 * experts as a token needs, about as well as top-2 at fewer experts on average, and more for harder tokens. Character
 * LMs with top-p (p), top-1 and top-2 blocks trained for equal steps; on the validation split, the Spearman rank
 * correlation between a token's loss and the experts the top-p model used for it.
 */
@Command(name = "top-p", mixinStandardHelpOptions = true,
        description = "Top-p against top-1 and top-2 routing at equal steps: validation loss, experts per token over "
                + "training, and the rank correlation of a token's loss with its number of experts.")
final class TopPExperiment implements Callable<Integer> {

    static final String NAME = "top-p";
    static final String RESULTS_CSV = "top-p.csv";
    static final String EXPERTS_CSV = "experts-per-token.csv";
    static final String CORRELATION_CSV = "loss-experts-correlation.csv";

    @Mixin
    ExperimentOptions options;
    @Option(names = "--p", defaultValue = "" + TopPRouter.DEFAULT_P, description = "top-p threshold "
            + "(default: ${DEFAULT-VALUE})")
    double p;
    @Option(names = "--steps", description = "training steps per model (default: 1000; --quick: 4)")
    Integer steps;
    @Mixin
    LearningRateOption lr;
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!(p > 0 && p <= 1)) {
            throw CommandLines.usage(spec, "--p must be in (0, 1], got " + p + " (try 0.4)");
        }
        int n = options.steps(spec, "--steps", steps, 1000);
        PrintStream console = System.out;
        LanguageModelRun.Scale scale = LanguageModelRun.Scale.of(options.quick);
        String corpus = options.corpus(spec);
        Path folder = options.outputFolder(spec, NAME);
        ExperimentReport report = new ExperimentReport(folder, "Top-p routing: harder tokens get more experts",
                "Huang et al. 2024, \"Harder tasks need more experts: dynamic routing in MoE models\": top-p routing "
                        + "(keep experts until their probability mass reaches p) performs at least as well as top-2 "
                        + "while activating fewer experts on average, and activates more experts for harder inputs. "
                        + "Here: " + scale.dModel() + "-wide character LMs, " + FeedForwardKind.EXPERTS
                        + " experts per block, " + n + " steps each.",
                ExperimentOptions.commandLine(spec));
        Map<String, Router> variants = new LinkedHashMap<>();
        variants.put("top-p " + p, new TopPRouter(p));
        variants.put("top-1", new TopKRouter(1));
        variants.put("top-2", new TopKRouter(2));
        ResultTable results = new ResultTable("routing", "validation_loss", "mean_experts_per_token", "seconds");
        ResultTable perToken = new ResultTable("routing", "step", "layer", "experts_per_token");
        ResultTable correlation = new ResultTable("layer", "tokens", "spearman_loss_vs_experts");
        List<Series> topPCurves = new ArrayList<>();
        for (Map.Entry<String, Router> variant : variants.entrySet()) {
            LanguageModelRun.Data data = LanguageModelRun.Data.of(corpus, scale, options.seed);
            CharLanguageModel model = LanguageModelRun.model(scale, data, lr.learningRate, options.seed,
                    () -> LanguageModelRun.moeBlock(scale, variant.getValue()).build());
            ComputationGraph net = model.network();
            console.printf("%s: training %d steps%n", variant.getKey(), n);
            Map<String, List<double[]>> layerCurves = new LinkedHashMap<>();
            long start = System.nanoTime();
            List<LanguageModelRun.Point> curve = LanguageModelRun.train(model, data, scale, n, step -> {
                for (Map.Entry<String, RoutingStatistics> s : RoutingStatistics.of(net).entrySet()) {
                    double mean = s.getValue().meanExpertsPerToken();
                    layerCurves.computeIfAbsent(s.getKey(), k -> new ArrayList<>()).add(new double[] {step, mean});
                    perToken.add(variant.getKey(), step, s.getKey(), mean);
                }
            });
            double seconds = (System.nanoTime() - start) / 1e9;
            Map<String, double[][]> tokens = lossAndExperts(net, data.validation(scale.evalBatches()));
            double meanExperts = tokens.values().stream().mapToDouble(t -> mean(t[1])).average().orElseThrow();
            results.add(variant.getKey(), LanguageModelRun.finalValidationLoss(curve), meanExperts, seconds);
            if (variant.getValue().isDynamic()) {
                for (Map.Entry<String, double[][]> layer : tokens.entrySet()) {
                    double[][] t = layer.getValue();
                    correlation.add(layer.getKey(), t[0].length, spearman(t[0], t[1]));
                }
                layerCurves.forEach((layer, points) -> topPCurves.add(new Series(layer,
                        points.stream().mapToDouble(pt -> pt[0]).toArray(),
                        points.stream().mapToDouble(pt -> pt[1]).toArray())));
            }
        }
        report.table("Validation loss and mean experts per token (validation split, mean over the MoE layers)",
                results, RESULTS_CSV, console);
        report.table("Top-p: rank correlation of a validation token's loss with the experts it used", correlation,
                CORRELATION_CSV, console);
        report.lineChart("experts-per-token.png", "Top-p " + p + ": experts per token during training",
                "step (its forward pass, before its update)", "mean experts per token", false, topPCurves);
        perToken.writeCsv(folder.resolve(EXPERTS_CSV));
        report.paragraph("Experts per token at every step of every run, per layer: " + EXPERTS_CSV + ".");
        report.finish(console);
        return 0;
    }

    /**
     * Per MoE layer, over the validation batches: each unmasked token's loss (nats) and the number of experts that
     * layer used for it, {@code [loss[], experts[]]}.
     */
    static Map<String, double[][]> lossAndExperts(ComputationGraph net, DataSetIterator data) {
        Map<String, List<double[]>> pairs = new LinkedHashMap<>();
        while (data.hasNext()) {
            DataSet ds = data.next();
            INDArray probabilities = net.output(false, new INDArray[] {ds.getFeatures()},
                    new INDArray[] {ds.getFeaturesMaskArray()}, new INDArray[] {ds.getLabelsMaskArray()})[0];
            INDArray chosen = probabilities.castTo(DataType.DOUBLE).muli(ds.getLabels().castTo(DataType.DOUBLE))
                    .sum(1);                                                                  // [mb, T]
            INDArray mask = ds.getFeaturesMaskArray() != null ? ds.getFeaturesMaskArray()
                    : Nd4j.ones(DataType.DOUBLE, chosen.shape());
            double[] p = chosen.reshape(chosen.length()).toDoubleVector();
            double[] kept = mask.castTo(DataType.DOUBLE).reshape(mask.length()).toDoubleVector();
            ModelLayers.byName(net).forEach((name, layer) -> {
                if (layer instanceof MoeLayerRuntime runtime) {
                    INDArray perToken = runtime.statistics().get(RoutedExperts.STAT_EXPERTS_PER_TOKEN);
                    double[] experts = perToken.toDoubleVector();
                    List<double[]> out = pairs.computeIfAbsent(name, k -> new ArrayList<>());
                    int row = 0;                                         // routed rows: unmasked tokens, b * T + t
                    for (int i = 0; i < p.length; i++) {
                        if (kept[i] != 0) {
                            out.add(new double[] {-Math.log(Math.max(p[i], 1e-30)), experts[row++]});
                        }
                    }
                }
            });
        }
        Map<String, double[][]> out = new LinkedHashMap<>();
        pairs.forEach((name, list) -> out.put(name, new double[][] {
                list.stream().mapToDouble(x -> x[0]).toArray(), list.stream().mapToDouble(x -> x[1]).toArray()}));
        return out;
    }

    /** Spearman's rank correlation, NaN when either side is constant (top-k: every token uses k experts). */
    static double spearman(double[] x, double[] y) {
        return x.length < 2 || constant(x) || constant(y) ? Double.NaN
                : new SpearmansCorrelation().correlation(x, y);
    }

    private static boolean constant(double[] v) {
        for (double x : v) {
            if (x != v[0]) {
                return false;
            }
        }
        return true;
    }

    private static double mean(double[] v) {
        double sum = 0;
        for (double x : v) {
            sum += x;
        }
        return v.length == 0 ? Double.NaN : sum / v.length;
    }

}
