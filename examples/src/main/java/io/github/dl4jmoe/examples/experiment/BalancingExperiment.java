package io.github.dl4jmoe.examples.experiment;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;

import io.github.dl4jmoe.examples.RoutingReport;
import io.github.dl4jmoe.examples.experiment.ExperimentReport.Series;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.stats.RoutingStatistics;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Load balance of the router: the load KL to uniform over training without a balancing term, with the Switch/GShard
 * load-balance loss, and with DeepSeek-V3's auxiliary-loss-free expert bias. Top-2 MoE character LMs, equal steps.
 */
@Command(name = "balancing", mixinStandardHelpOptions = true,
        description = "Router load balance over training: no balancing, the load-balance loss, and the "
                + "auxiliary-loss-free expert bias.")
final class BalancingExperiment implements Callable<Integer> {

    static final String NAME = "balancing";
    static final String RESULTS_CSV = "balancing.csv";
    static final String KL_CSV = "load-kl.csv";
    static final double LOAD_BALANCE = 1e-2;

    @Mixin
    ExperimentOptions options;
    @Option(names = "--steps", description = "training steps per model (default: 1000; --quick: 4)")
    Integer steps;
    @Mixin
    LearningRateOption lr;
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        int n = options.steps(spec, "--steps", steps, 1000);
        PrintStream console = System.out;
        LanguageModelRun.Scale scale = LanguageModelRun.Scale.of(options.quick);
        String corpus = options.corpus(spec);
        Path folder = options.outputFolder(spec, NAME);
        Map<String, UnaryOperator<MoeFeedForward.Builder>> variants = new LinkedHashMap<>();
        variants.put("none", b -> b.loadBalanceCoefficient(0));
        variants.put("load-balance loss " + LOAD_BALANCE, b -> b.loadBalanceCoefficient(LOAD_BALANCE));
        variants.put("expert bias", b -> b.loadBalanceCoefficient(0).expertBias(true));
        ResultTable results = new ResultTable("balancing", "validation_loss", "load_kl_block0", "load_kl_block1",
                "seconds");
        ResultTable kl = new ResultTable("balancing", "step", "layer", "load_kl");
        List<Series> curves = new ArrayList<>();
        for (Map.Entry<String, UnaryOperator<MoeFeedForward.Builder>> variant : variants.entrySet()) {
            LanguageModelRun.Data data = LanguageModelRun.Data.of(corpus, scale, options.seed);
            CharLanguageModel model = LanguageModelRun.model(scale, data, lr.learningRate, options.seed,
                    () -> variant.getValue().apply(LanguageModelRun.moeBlock(scale, new TopKRouter(2))).build());
            console.printf("%s: training %d steps%n", variant.getKey(), n);
            List<double[]> meanKl = new ArrayList<>();
            long start = System.nanoTime();
            List<LanguageModelRun.Point> curve = LanguageModelRun.train(model, data, scale, n, step -> {
                Map<String, RoutingStatistics> stats = RoutingStatistics.of(model.network());
                stats.forEach((layer, s) -> kl.add(variant.getKey(), step, layer, s.klToUniform()));
                meanKl.add(new double[] {step, stats.values().stream().mapToDouble(RoutingStatistics::klToUniform)
                        .average().orElse(Double.NaN)});
            });
            double seconds = (System.nanoTime() - start) / 1e9;
            List<Double> validationKl = RoutingReport.collect(model.network(), data.validation(scale.evalBatches()),
                    scale.evalBatches()).moe().values().stream().map(r -> r.statistics().klToUniform()).toList();
            results.add(variant.getKey(), LanguageModelRun.finalValidationLoss(curve), validationKl.get(0),
                    validationKl.get(validationKl.size() - 1), seconds);
            curves.add(new Series(variant.getKey(), meanKl.stream().mapToDouble(p -> p[0]).toArray(),
                    meanKl.stream().mapToDouble(p -> p[1]).toArray()));
        }
        ExperimentReport report = new ExperimentReport(folder, "Balancing the routers",
                "A router trained on the language-model loss alone tends to collapse onto a few experts. The "
                        + "Switch/GShard load-balance loss (coefficient " + LOAD_BALANCE + ") pushes the load toward "
                        + "uniform through the gradient; DeepSeek-V3's auxiliary-loss-free balancing adds a "
                        + "per-expert bias to the routing scores for selection only and steps it against each "
                        + "expert's load error after every step. Here: " + scale.dModel() + "-wide character LMs "
                        + "with top-2 blocks of " + FeedForwardKind.EXPERTS + " experts, " + n + " steps each. "
                        + "Load KL = KL(load || uniform) in nats (0: perfectly even; ln 8 = 2.08: one expert).",
                ExperimentOptions.commandLine(spec));
        report.table("Validation loss and load KL to uniform on the validation split", results, RESULTS_CSV,
                console);
        report.lineChart("load-kl.png", "Load KL to uniform during training (mean over the MoE layers)", "step",
                "KL(load || uniform), nats", false, curves);
        kl.writeCsv(folder.resolve(KL_CSV));
        report.paragraph("Per layer and step (the step's training batch): " + KL_CSV + ".");
        report.finish(console);
        return 0;
    }
}
