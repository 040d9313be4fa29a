package io.github.dl4jmoe.examples.experiment;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.examples.RoutingReport;
import io.github.dl4jmoe.examples.experiment.ExperimentReport.Series;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.stats.ExpertUsage;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * PEER (He 2024, "Mixture of A Million Experts", Fig. 3a and Table 2): at a fixed number of active experts (heads x
 * top-k) and the same steps and tokens, more experts N lower the loss; the query BatchNorm makes expert usage higher
 * and more even. Character LMs with PEER blocks for each N and each query normalisation.
 */
@Command(name = "peer-scaling", mixinStandardHelpOptions = true,
        description = "PEER: validation loss and expert usage against the number of experts N, with and without "
                + "query BatchNorm, at fixed active experts and equal steps.")
final class PeerScalingExperiment implements Callable<Integer> {

    static final String NAME = "peer-scaling";
    static final String RESULTS_CSV = "peer-scaling.csv";
    static final String CURVES_CSV = "peer-scaling-curves.csv";

    @Mixin
    ExperimentOptions options;
    @Option(names = "--experts", split = ",", description = "the values of N, each a perfect square "
            + "(default: 256,1024,4096,16384; --quick: 16,64)")
    int[] experts;
    @Option(names = "--heads", description = "retrieval heads h (default: 4; --quick: 2)")
    Integer heads;
    @Option(names = "--top-k", description = "experts per head k (default: 16; --quick: 4)")
    Integer topK;
    @Option(names = "--steps", description = "training steps per model (default: 300; --quick: 4)")
    Integer steps;
    @Mixin
    LearningRateOption lr;
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintStream console = System.out;
        boolean quick = options.quick;
        int[] ns = experts != null ? experts : quick ? new int[] {16, 64} : new int[] {256, 1024, 4096, 16384};
        int h = heads != null ? heads : quick ? 2 : 4;
        int k = topK != null ? topK : quick ? 4 : 16;
        int n = options.steps(spec, "--steps", steps, 300);
        validate(ns, h, k);
        LanguageModelRun.Scale scale = LanguageModelRun.Scale.of(quick);
        String corpus = options.corpus(spec);
        Path folder = options.outputFolder(spec, NAME);
        ExperimentReport report = new ExperimentReport(folder, "PEER: loss and expert usage against N",
                "PEER paper (He 2024), Fig. 3a and Table 2: with the number of active experts fixed (h x k), a larger "
                        + "pool of experts N lowers the loss at equal compute, and batch-normalised queries use more "
                        + "of the experts, more evenly. Here: " + scale.dModel() + "-wide character LMs with "
                        + "PEER blocks, h = " + h + ", k = " + k + ", " + n + " steps of " + scale.batch() + " x "
                        + scale.context() + " characters each.",
                ExperimentOptions.commandLine(spec));
        ResultTable results = new ResultTable("experts", "query_norm", "validation_loss", "used_fraction",
                "kl_to_uniform", "seconds");
        ResultTable curves = new ResultTable("experts", "query_norm", "step", "train_loss", "validation_loss");
        List<Series> lossSeries = new ArrayList<>();
        List<Series> usageSeries = new ArrayList<>();
        for (PeerLayer.QueryNorm norm : new PeerLayer.QueryNorm[] {PeerLayer.QueryNorm.BATCH,
                PeerLayer.QueryNorm.NONE}) {
            double[] losses = new double[ns.length];
            double[] usage = new double[ns.length];
            for (int i = 0; i < ns.length; i++) {
                LanguageModelRun.Data data = LanguageModelRun.Data.of(corpus, scale, options.seed);
                int numExperts = ns[i];
                CharLanguageModel model = LanguageModelRun.model(scale, data, lr.learningRate, options.seed,
                        () -> new PeerLayer.Builder().numExperts(numExperts).heads(h).topK(k)
                                .keySize(Math.min(scale.dModel(), 128)).queryNorm(norm).build());
                console.printf("N = %d, query norm %s: training %d steps%n", ns[i], norm, n);
                long start = System.nanoTime();
                List<LanguageModelRun.Point> curve = LanguageModelRun.train(model, data, scale, n, step -> { });
                double seconds = (System.nanoTime() - start) / 1e9;
                RoutingReport routing = RoutingReport.collect(model.network(), data.validation(scale.evalBatches()),
                        scale.evalBatches());
                double used = routing.peer().values().stream().mapToDouble(r -> r.usage().usedFraction()).average()
                        .orElseThrow();
                double kl = routing.peer().values().stream().mapToDouble(r -> r.usage().unevenness()).average()
                        .orElseThrow();
                losses[i] = LanguageModelRun.finalValidationLoss(curve);
                usage[i] = used;
                results.add(ns[i], norm.name(), losses[i], used, kl, seconds);
                for (LanguageModelRun.Point p : curve) {
                    curves.add(ns[i], norm.name(), p.step(), p.trainLoss(), p.validationLoss());
                }
            }
            double[] xs = Arrays.stream(ns).asDoubleStream().toArray();
            lossSeries.add(new Series("query norm " + norm, xs, losses));
            usageSeries.add(new Series("query norm " + norm, xs, usage));
        }
        report.table("Validation loss and expert usage on the validation split (mean over the PEER layers)", results,
                RESULTS_CSV, console);
        report.lineChart("validation-loss.png", "Validation loss against N", "experts N", "validation loss (nats/char)",
                true, lossSeries);
        report.lineChart("expert-usage.png", "Experts retrieved on the validation split", "experts N",
                "fraction of experts used", true, usageSeries);
        curves.writeCsv(folder.resolve(CURVES_CSV));
        report.paragraph("Loss curves of every run: " + CURVES_CSV + ". " + ExpertUsage.class.getSimpleName()
                + ": used fraction = distinct experts retrieved / N; KL to uniform of the retrieval counts, in nats.");
        report.finish(console);
        return 0;
    }


    private void validate(int[] ns, int h, int k) {
        for (int value : ns) {
            int root = (int) Math.round(Math.sqrt(value));
            require(value >= 4 && root * root == value, "--experts: " + value + " is not a perfect square of at "
                    + "least 4 (try 256,1024,4096,16384)");
            require(k <= root, "--top-k " + k + " exceeds sqrt(N) = " + root + " for N = " + value
                    + " (product keys find at most sqrt(N) candidates per half; lower --top-k or raise --experts)");
        }
        require(h >= 1, "--heads must be at least 1, got " + h);
        require(k >= 1, "--top-k must be at least 1, got " + k);
    }

    private void require(boolean ok, String message) {
        if (!ok) {
            throw CommandLines.usage(spec, message);
        }
    }
}
