package io.github.dl4jmoe.examples.experiment;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.examples.CharMlpExample;
import io.github.dl4jmoe.examples.CharWindows;
import io.github.dl4jmoe.examples.UpcycleCommand;
import io.github.dl4jmoe.examples.experiment.ExperimentReport.Series;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import io.github.dl4jmoe.upcycle.UpcycleMode;
import io.github.dl4jmoe.upcycle.Upcycler;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.schedule.FixedSchedule;
import org.nd4j.linalg.schedule.RampSchedule;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * FineRMoE's upcycling claim: a dense model, converted into fine-grained experts and trained on, is at least as good
 * as the dense model trained the same further steps. A char-mlp trained {@code --dense-steps}, then upcycled with each
 * {@link UpcycleMode} and trained {@code --steps} more beside the dense model on the same batches.
 */
@Command(name = "upcycling", mixinStandardHelpOptions = true,
        description = "Dense char-mlp, upcycled (AUTHORS, PRESERVING, COPY) and trained on beside the dense model: "
                + "validation-loss curves at equal steps.")
final class UpcyclingExperiment implements Callable<Integer> {

    static final String NAME = "upcycling";
    static final String RESULTS_CSV = "upcycling.csv";
    static final String CURVES_CSV = "upcycling-curves.csv";
    static final String DENSE = "dense";

    /**
     * The continued-training recipe's defaults (README, Reproducing the papers): a third of the dense model's rate for
     * every model; no warm-up is needed once the upcycled network's fresh Adam counts its steps from 0.
     */
    static final double RECIPE_LEARNING_RATE = 1e-3;
    static final int RECIPE_WARMUP = 0;

    private static final int D_MODEL = 128;
    private static final int D_FF = 384;
    private static final int CONTEXT = 8;
    private static final int BATCH = 128;
    private static final int INPUT_GRANULARITY = 4;
    private static final int OUTPUT_GRANULARITY = 2;
    private static final int OUTPUT_EXPANSION = 2;
    private static final int COPY_EXPERTS = 8;
    private static final int COPY_TOP_K = 2;

    @Mixin
    ExperimentOptions options;
    @Option(names = "--dense-steps", description = "steps of the dense model before upcycling "
            + "(default: 600; --quick: 4)")
    Integer denseSteps;
    @Option(names = "--steps", description = "steps after upcycling, for every model (default: 600; --quick: 4)")
    Integer steps;
    @Option(names = "--lr", defaultValue = "" + RECIPE_LEARNING_RATE, description = "Adam learning rate after "
            + "upcycling, for every model (default: ${DEFAULT-VALUE}; the dense model trained at "
            + CharMlpExample.LEARNING_RATE + ")")
    double learningRate;
    @Option(names = "--warmup", defaultValue = "" + RECIPE_WARMUP, description = "steps over which the upcycled "
            + "models' learning rate rises linearly from 0 to --lr: their Adam starts without moments "
            + "(default: ${DEFAULT-VALUE})")
    int warmup;
    @Option(names = "--eval-every", description = "steps between validation losses (default: 25; --quick: 2)")
    Integer evalEvery;
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        int before = options.steps(spec, "--dense-steps", denseSteps, 600);
        int after = options.steps(spec, "--steps", steps, 600);
        int every = evalEvery != null ? evalEvery : options.quick ? 2 : 25;
        require(every >= 1, "--eval-every must be at least 1, got " + every);
        require(learningRate > 0 && Double.isFinite(learningRate), "--lr must be a positive number, got "
                + learningRate + " (try " + RECIPE_LEARNING_RATE + ")");
        require(warmup >= 0, "--warmup must be 0 or more, got " + warmup);
        PrintStream console = System.out;
        Path folder = options.outputFolder(spec, NAME);
        int dModel = options.quick ? 16 : D_MODEL;
        int dFf = options.quick ? 32 : D_FF;
        CharWindows data = CharWindows.of(spec, options.corpus(spec), options.text, CONTEXT);
        DataSet validation = data.validation(options.seed);
        MultiLayerNetwork dense = CharMlpExample.network(data, dModel, dFf, options.seed);
        Random random = new Random(options.seed);
        console.printf("dense char-mlp: training %d steps%n", before);
        for (int step = 0; step < before; step++) {
            dense.fit(data.training(BATCH, random));
        }
        Map<String, MultiLayerNetwork> models = new LinkedHashMap<>();
        models.put(DENSE, dense);
        for (UpcycleMode mode : UpcycleMode.values()) {
            MultiLayerNetwork moe = Upcycler.of(mode).seed(options.seed).upcycle(dense, Map.of(1, target(mode, dFf)));
            moe.setLearningRate(warmup == 0 ? new FixedSchedule(learningRate)
                    : new RampSchedule(new FixedSchedule(learningRate), warmup));
            models.put(mode.name(), moe);
        }
        dense.setLearningRate(learningRate);
        Map<String, List<double[]>> curves = new LinkedHashMap<>();
        models.forEach((name, net) -> curves.put(name, new ArrayList<>()));
        ResultTable curveTable = new ResultTable("model", "step", "validation_loss");
        console.printf("upcycled with %s; training every model %d more steps%n", String.join(", ",
                models.keySet().stream().skip(1).toList()), after);
        for (int step = 0; step <= after; step++) {
            if (step > 0) {
                DataSet batch = data.training(BATCH, random);
                models.values().forEach(net -> net.fit(batch));
            }
            if (step % every == 0 || step == after) {
                for (Map.Entry<String, MultiLayerNetwork> m : models.entrySet()) {
                    double loss = UpcycleCommand.taskLoss(m.getValue(), validation);
                    curves.get(m.getKey()).add(new double[] {step, loss});
                    curveTable.add(m.getKey(), step, loss);
                }
            }
        }
        ResultTable results = new ResultTable("model", "loss_at_upcycling", "loss_after", "change",
                "vs_dense_after");
        double denseAfter = last(curves.get(DENSE));
        List<Series> series = new ArrayList<>();
        curves.forEach((name, points) -> {
            double first = points.get(0)[1];
            double last = last(points);
            results.add(name, first, last, last - first, last - denseAfter);
            series.add(new Series(name, points.stream().mapToDouble(p -> p[0]).toArray(),
                    points.stream().mapToDouble(p -> p[1]).toArray()));
        });
        ExperimentReport report = new ExperimentReport(folder, "Upcycling a dense model into experts",
                "FineRMoE (arXiv 2025) upcycles a trained dense model into fine-grained experts (split in the "
                        + "intermediate and the output dimension) and reports that the upcycled model, trained on, is "
                        + "at least as good as the dense one at equal further steps. Here: a char-mlp (d = " + dModel
                        + ", d_ff = " + dFf + ", SwiGLU) trained " + before + " steps at Adam "
                        + CharMlpExample.LEARNING_RATE + ", then AUTHORS and PRESERVING (FineRMoE, G_I = "
                        + INPUT_GRANULARITY + ", G_O = " + OUTPUT_GRANULARITY + ", R_O = " + OUTPUT_EXPANSION
                        + ") and COPY (" + COPY_EXPERTS + " full copies, top-" + COPY_TOP_K + "), and every model "
                        + "trained " + after + " more steps on the same batches at learning rate " + learningRate
                        + " (the upcycled ones warmed up over " + warmup + " steps: their Adam has no moments yet; "
                        + "the dense model keeps its own).",
                ExperimentOptions.commandLine(spec));
        report.table("Validation loss (cross-entropy, nats/char, auxiliary terms excluded)", results, RESULTS_CSV,
                console);
        report.lineChart("validation-loss.png", "Validation loss after upcycling", "steps after upcycling",
                "validation loss (nats/char)", false, series);
        curveTable.writeCsv(folder.resolve(CURVES_CSV));
        report.paragraph("Every evaluated point: " + CURVES_CSV + ".");
        report.finish(console);
        return 0;
    }

    /** The layer replacing the dense block (layer 1 of the char-mlp) for {@code mode}. */
    private static BaseMoeLayer target(UpcycleMode mode, int dFf) {
        if (mode == UpcycleMode.COPY) {
            return new MoeFeedForward.Builder().numExperts(COPY_EXPERTS).expertHidden(dFf)
                    .router(new TopKRouter(COPY_TOP_K)).build();
        }
        return new FineRMoeLayer.Builder().dFf(dFf).inputGranularity(INPUT_GRANULARITY)
                .outputGranularity(OUTPUT_GRANULARITY).outputExpansion(OUTPUT_EXPANSION)
                .topInput(INPUT_GRANULARITY).build();
    }

    private static double last(List<double[]> points) {
        return points.get(points.size() - 1)[1];
    }

    private void require(boolean ok, String message) {
        if (!ok) {
            throw CommandLines.usage(spec, message);
        }
    }
}
