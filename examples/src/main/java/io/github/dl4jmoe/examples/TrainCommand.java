package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.cli.FileOptions;
import io.github.dl4jmoe.cli.ModelOptions;
import io.github.dl4jmoe.examples.ui.RoutingModule;
import io.github.dl4jmoe.examples.ui.TrainingUi;
import io.github.dl4jmoe.host.NativeMemoryListener;
import io.github.dl4jmoe.stats.RoutingStatistics;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;
import io.github.dl4jmoe.zoo.checkpoint.CheckpointFiles;
import io.github.dl4jmoe.zoo.checkpoint.TrainingDivergedException;
import io.github.dl4jmoe.zoo.checkpoint.TrainingState;
import io.github.dl4jmoe.zoo.data.BundledText;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterIterator.Split;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.deeplearning4j.datasets.iterator.EarlyTerminationDataSetIterator;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Trains a {@link MoETransformerLM} on a text file with DL4J's ordinary {@code fit}, showing a progress bar with the
 * training loss and tokens per second, measuring validation loss every {@code --eval-every} steps, saving a checkpoint
 * every {@code --checkpoint-every} steps ({@code NAME-step000500.zip} beside {@code --out}, the newest
 * {@code --keep-checkpoints} kept), and finally saving the model to {@code --out} and printing a sample.
 *
 * <p>Every file is written atomically ({@link AtomicFiles}). A checkpoint holds the run's {@link TrainingState}, so
 * {@code --resume} continues the step count, the data order and the random state, and takes the model and data
 * options from the file: with one worker, N steps, a resume and N more steps train exactly what 2N steps straight do.
 * A loss or parameter that is no longer finite stops the run before anything is saved
 * ({@link TrainingDivergedException}, exit code 1).
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a MoETransformerLM character model on text (default: bundled Shakespeare).")
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--text", description = "UTF-8 text file (default: bundled tiny Shakespeare)")
    Path text;
    @Mixin
    ModelOptions modelOptions;
    @Option(names = "--batch-size", defaultValue = "32", description = "windows per step (default: ${DEFAULT-VALUE})")
    int batchSize;
    @Option(names = "--steps", defaultValue = "200", description = "training steps, one minibatch each "
            + "(default: ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--workers", defaultValue = "1", description = "train on this many local threads with DL4J's "
            + "ParallelWrapper (parameter averaging); 1 = plain fit (default: ${DEFAULT-VALUE})")
    int workers;
    @Option(names = "--averaging-frequency", defaultValue = "4", description = "with --workers > 1: minibatches "
            + "each worker trains between two parameter averagings (default: ${DEFAULT-VALUE})")
    int averagingFrequency;
    @Option(names = "--minutes", description = "stop after this many minutes even if steps remain")
    Double minutes;
    @Option(names = "--eval-every", defaultValue = "100", description = "validation loss every N steps "
            + "(default: ${DEFAULT-VALUE})")
    int evalEvery;
    @Option(names = "--eval-batches", defaultValue = "20", description = "validation batches per evaluation; "
            + "0 = the whole validation split (default: ${DEFAULT-VALUE})")
    int evalBatches;
    @Option(names = "--out", defaultValue = "models/char-lm.zip", description = "where the final model is saved; "
            + "checkpoints go beside it as NAME-step000500.zip (default: ${DEFAULT-VALUE})")
    Path out;
    @Option(names = "--checkpoint-every", defaultValue = "100", description = "save a checkpoint every N steps "
            + "(default: ${DEFAULT-VALUE})")
    int checkpointEvery;
    @Option(names = "--keep-checkpoints", defaultValue = "" + CheckpointFiles.DEFAULT_KEEP, description = "newest "
            + "checkpoints kept; older ones are deleted (default: ${DEFAULT-VALUE})")
    int keepCheckpoints;
    @Option(names = "--resume", description = "continue the run a checkpoint (or final model) of this command saved: "
            + "its step count, data position and model options; --steps is the run's total")
    Path resume;
    @Option(names = "--no-updater-state", description = "save without the Adam state (smaller file, cannot resume "
            + "exactly)")
    boolean noUpdaterState;
    @Option(names = "--sample-length", defaultValue = "300", description = "characters to print after training "
            + "(default: ${DEFAULT-VALUE})")
    int sampleLength;
    @Option(names = "--prompt", defaultValue = "ROMEO:", description = "start of the sample "
            + "(default: ${DEFAULT-VALUE})")
    String prompt;
    @Option(names = "--temperature", defaultValue = "0.8", description = "sampling temperature "
            + "(default: ${DEFAULT-VALUE})")
    double temperature;
    @Option(names = "--ui", description = "show training in DL4J's training UI (score, parameters, and our routing "
            + "page at " + RoutingModule.PAGE_PATH + ") while it runs")
    boolean ui;
    @Option(names = "--ui-port", defaultValue = "" + TrainingUi.DEFAULT_PORT, description = "with --ui: TCP port, "
            + "0 = any free one (default: ${DEFAULT-VALUE})")
    int uiPort;
    @Option(names = "--ui-host", description = "with --ui: address to listen on (default: the loopback interface, "
            + "this machine only; 0.0.0.0 shows the model to anyone who can reach this machine)")
    String uiHost;
    @Option(names = "--ui-file", description = "with --ui: record the statistics in this file (DL4J's "
            + "FileStatsStorage) instead of memory, to open the finished run later")
    Path uiFile;
    @Spec
    CommandSpec spec;

    /** Training steps between two records of the training UI (its pages and our routing page). */
    static final int UI_EVERY = 1;

    /** Training steps between releases of freed native memory ({@link NativeMemoryListener}). */
    static final int RELEASE_MEMORY_EVERY = 50;

    /** Highest TCP port. */
    private static final int MAX_PORT = 0xFFFF;

    /**
     * The options a checkpoint records and a resumed run takes from it: they define the model, its data order and
     * minibatches.
     */
    static final List<String> RECORDED_OPTIONS = List.of("--ffn", "--layers", "--d-model", "--heads", "--context",
            "--lr", "--seed", "--batch-size");

    /**
     * What a run produced.
     *
     * @param firstLoss      training loss per character of the first step (nats)
     * @param lastLoss       training loss per character of the last step
     * @param validationLoss final validation loss per character over {@code --eval-batches}
     */
    public record Result(int steps, long tokens, double seconds, double firstLoss, double lastLoss,
                         double validationLoss, Path model, String sample) {
        public double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    @Override
    public Integer call() throws IOException {
        Result r = run(System.out);         // a TrainingDivergedException is reported as a failure: one line, exit 1
        System.out.printf("trained %d steps in %.0f s (%.0f tokens/s); loss %.3f -> %.3f; validation loss %.4f%n",
                r.steps(), r.seconds(), r.tokensPerSecond(), r.firstLoss(), r.lastLoss(), r.validationLoss());
        System.out.println("saved " + r.model());
        System.out.println("--- sample (temperature " + temperature + ") ---");
        System.out.println(r.sample());
        return 0;
    }

    public Result run(PrintStream log) throws IOException {
        validateOptions();
        FileOptions.requireDistinct(spec, "--out", out, "--resume", resume);
        FileOptions.requireDistinct(spec, "--out", out, "--text", text);
        Map<String, String> options = recordedOptions();
        TrainingState resumed = resume == null ? null : resumedState(options);
        if (resumed != null && resumed.step() >= steps) {
            throw CommandLines.usage(spec, "--steps " + steps + ": " + resume + " is already at step "
                    + resumed.step() + " (--steps counts the whole run; give more to train further)");
        }
        int window = resumed == null ? modelOptions.context() : Integer.parseInt(options.get("--context"));
        int minibatch = resumed == null ? batchSize : Integer.parseInt(options.get("--batch-size"));
        long seed = resumed == null ? modelOptions.seed() : Long.parseLong(options.get("--seed"));
        String corpus = text == null ? BundledText.TINY_SHAKESPEARE.read()
                : FileOptions.readText(spec, "--text", text);
        CharLanguageModel model = resume != null ? CharLanguageModel.load(resume)
                : modelOptions.newModel(CharacterVocabulary.of(corpus));
        CharacterIterator train = iterator(corpus, model.vocabulary(), Split.TRAIN, window, minibatch, seed);
        CharacterIterator validation = iterator(corpus, model.vocabulary(), Split.VALIDATION, window, minibatch,
                seed);
        ComputationGraph net = model.network();
        log.printf("MoETransformerLM: %,d parameters, vocabulary %d, %d training windows%n", net.numParams(),
                model.vocabulary().size(), train.windows());
        int step = 0;
        if (resumed != null) {
            step = resumed.step();
            train.seek(resumed.data());
            resumed.restoreRandom();
            log.printf("resumed %s at step %d%n", resume, step);
        }
        CheckpointFiles checkpoints = new CheckpointFiles(out);
        checkpoints.deleteLeftovers();
        Path lastGood = resume;
        net.addListeners(new NativeMemoryListener(RELEASE_MEMORY_EVERY));
        try (TrainingUi trainingUi = ui ? startUi(log) : null) {
            if (trainingUi != null) {
                // with --workers, ParallelWrapper's builder moves the network's listeners to the wrapper, which gives
                // each worker thread its own clone of these two (at every averaging round), under the worker's id
                trainingUi.listeners(UI_EVERY).forEach(net::addListeners);
            }
            return train(log, model, train, validation, options, checkpoints, step, lastGood, seed);
        }
    }

    /** Starts DL4J's training UI on {@code --ui-host:--ui-port} and says where, and who can reach it. */
    private TrainingUi startUi(PrintStream log) {
        return TrainingUi.startFor(spec, new TrainingUi.OptionNames("--ui-host", "--ui-port", "--ui-file"), uiHost,
                uiPort, uiFile, "training UI (until training ends)", log);
    }

    private Result train(PrintStream log, CharLanguageModel model, CharacterIterator train,
                         CharacterIterator validation, Map<String, String> options, CheckpointFiles checkpoints,
                         int startStep, Path lastGoodFile, long seed) throws IOException {
        ComputationGraph net = model.network();
        int step = startStep;
        Path lastGood = lastGoodFile;
        long start = System.nanoTime();
        long deadline = minutes == null ? Long.MAX_VALUE : start + (long) (minutes * 60e9);
        long tokens = 0;
        double first = Double.NaN;
        double last = Double.NaN;
        int firstStep = step;
        ParallelWrapper wrapper = workers == 1 ? null : new ParallelWrapper.Builder<>(net).workers(workers)
                .averagingFrequency(averagingFrequency).trainingMode(ParallelWrapper.TrainingMode.AVERAGING)
                .prefetchBuffer(0).build();
        // one minibatch at a time, or one averaging round: every worker trains averagingFrequency minibatches
        int perRound = wrapper == null ? 1 : workers * averagingFrequency;
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(steps)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).showSpeed().setUnit(" steps", 1)
                .startsFrom(step, Duration.ZERO).build()) {
            while (step < steps && System.nanoTime() < deadline) {
                List<DataSet> batches = nextBatches(train, Math.min(perRound, steps - step));
                if (wrapper == null) {
                    net.fit(batches.get(0));
                } else {
                    wrapper.fit(new ExistingDataSetIterator(batches));
                }
                int before = step;
                step += batches.size();
                DataSet batch = batches.get(batches.size() - 1);
                long batchTokens = batch.getLabelsMaskArray().sumNumber().longValue();
                tokens += batches.stream().mapToLong(b -> b.getLabelsMaskArray().sumNumber().longValue()).sum();
                // DL4J's score of a sequence output is summed over time steps and averaged over examples (with
                // workers: averaged over the workers' last minibatches)
                last = net.score() * batch.getFeatures().size(0) / batchTokens;
                TrainingDivergedException.checkLoss(last, step, "step " + step, lastGood);
                if (before == firstStep) {
                    first = last;
                }
                bar.stepTo(step);
                bar.setExtraMessage(String.format("loss %.3f  %.0f tok/s", last, tokens / seconds(start)));
                if (step / evalEvery > before / evalEvery && step < steps) {
                    double v = model.validationLoss(limited(validation));
                    bar.setExtraMessage(String.format("loss %.3f  val %.3f", last, v));
                    log.printf("%nstep %d: validation loss %.4f%s%n", step, v, routingSummary(net));
                }
                if (step / checkpointEvery > before / checkpointEvery && step < steps) {
                    lastGood = save(model, checkpoints.forStep(step), step, train, options, lastGood);
                    checkpoints.keepNewest(keepCheckpoints);
                }
            }
        }
        double seconds = seconds(start);
        double validationLoss = model.validationLoss(limited(validation));
        save(model, out, step, train, options, lastGood);
        String sample = sampleLength > 0
                ? model.sample(samplePrompt(model), sampleLength, temperature, seed) : "";
        return new Result(step, tokens, seconds, first, last, validationLoss, out, sample);
    }

    /**
     * The checkpoint's state, after checking that no option given on the command line contradicts it; {@code options}
     * then holds the checkpoint's values.
     */
    private TrainingState resumedState(Map<String, String> options) throws IOException {
        TrainingState state = CharLanguageModel.trainingState(resume).orElseThrow(() -> CommandLines.usage(spec,
                "--resume: " + resume + " holds no training state (it was not saved by this version of train); "
                        + "train a new model, or load it in your own program"));
        for (Map.Entry<String, String> saved : state.options().entrySet()) {
            String given = options.get(saved.getKey());
            if (given != null && !given.equals(saved.getValue())
                    && spec.commandLine().getParseResult().hasMatchedOption(saved.getKey())) {
                throw CommandLines.usage(spec, saved.getKey() + " " + given + " contradicts " + resume
                        + ", which was trained with " + saved.getKey() + " " + saved.getValue() + " (leave "
                        + saved.getKey() + " out to resume, or start a new run)");
            }
        }
        options.putAll(state.options());
        return state;
    }

    /** The values of {@link #RECORDED_OPTIONS} as given or defaulted, in a canonical text form. */
    private Map<String, String> recordedOptions() {
        Map<String, String> values = new LinkedHashMap<>();
        for (String name : RECORDED_OPTIONS) {
            Object value = spec.findOption(name).getValue();
            values.put(name, value instanceof Object[] array
                    ? Arrays.stream(array).map(String::valueOf).collect(Collectors.joining(","))
                    : String.valueOf(value));
        }
        return values;
    }

    /** The next {@code count} training minibatches, starting the (reshuffled) training split again when it ends. */
    private static List<DataSet> nextBatches(CharacterIterator train, int count) {
        List<DataSet> batches = new ArrayList<>(count);
        while (batches.size() < count) {
            if (!train.hasNext()) {
                train.reset();
            }
            batches.add(train.next());
        }
        return batches;
    }

    private static CharacterIterator iterator(String corpus, CharacterVocabulary vocabulary, Split split, int window,
                                              int minibatch, long seed) {
        return CharacterIterator.builder().text(corpus).vocabulary(vocabulary).sequenceLength(window)
                .batchSize(minibatch).split(split).shuffle(split == Split.TRAIN).seed(seed).build();
    }

    private DataSetIterator limited(CharacterIterator validation) {
        return evalBatches == 0 ? validation : new EarlyTerminationDataSetIterator(validation, evalBatches);
    }

    /**
     * Saves the model and the run's state to {@code file}, unless the parameters are no longer finite.
     *
     * @return {@code file}, the newest good checkpoint
     */
    private Path save(CharLanguageModel model, Path file, int step, CharacterIterator train,
                      Map<String, String> options, Path lastGood) throws IOException {
        TrainingDivergedException.checkParameters(model.network().params(), step, "step " + step, lastGood);
        model.save(file, !noUpdaterState, TrainingState.now(step, train.position(), options));
        return file;
    }

    /** The prompt, or its characters the vocabulary knows, or the vocabulary's first character. */
    private String samplePrompt(CharLanguageModel model) {
        StringBuilder known = new StringBuilder();
        prompt.chars().filter(c -> model.vocabulary().contains((char) c)).forEach(c -> known.append((char) c));
        return known.length() > 0 ? known.toString() : String.valueOf(model.vocabulary().charAt(0));
    }

    /**
     * Mean experts per token of each MoE layer after the last forward pass, e.g. " (experts/token: block0-ffn 1.83)".
     */
    static String routingSummary(ComputationGraph net) {
        Map<String, RoutingStatistics> stats = RoutingStatistics.of(net);
        if (stats.isEmpty()) {
            return "";
        }
        StringBuilder s = new StringBuilder(" (experts/token:");
        stats.forEach((layer, st) -> s.append(String.format(" %s %.2f", layer, st.meanExpertsPerToken())));
        return s.append(')').toString();
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    /** Every check that needs no training, each failure a usage error naming the option. */
    private void validateOptions() throws IOException {
        modelOptions.validate();
        require(steps >= 1, "--steps must be at least 1, got " + steps + " (try 200)");
        require(minutes == null || minutes > 0, "--minutes must be > 0, got " + minutes);
        require(batchSize >= 1, "--batch-size must be at least 1, got " + batchSize + " (try 32)");
        require(workers >= 1, "--workers must be at least 1, got " + workers);
        require(averagingFrequency >= 1, "--averaging-frequency must be at least 1, got " + averagingFrequency);
        require(checkpointEvery >= 1, "--checkpoint-every must be at least 1, got " + checkpointEvery);
        require(keepCheckpoints >= 1, "--keep-checkpoints must be at least 1, got " + keepCheckpoints);
        require(evalEvery >= 1, "--eval-every must be at least 1, got " + evalEvery);
        require(evalBatches >= 0, "--eval-batches must be >= 0, got " + evalBatches
                + " (0 evaluates the whole validation split)");
        require(ui || (uiHost == null && uiFile == null && !isGiven("--ui-port")),
                "--ui-port, --ui-host and --ui-file configure --ui; add --ui");
        require(uiPort >= 0 && uiPort <= MAX_PORT, "--ui-port must be 0 to " + MAX_PORT + ", got " + uiPort
                + " (try " + TrainingUi.DEFAULT_PORT + ", or 0 for any free port)");
        require(sampleLength >= 0, "--sample-length must be 0 or more, got " + sampleLength + " (0: no sample)");
        require(temperature > 0 && Double.isFinite(temperature), "--temperature must be a positive number, got "
                + temperature + " (try 0.8)");
        if (text != null) {
            FileOptions.requireFile(spec, "--text", text, "a UTF-8 text file");
        }
        if (resume != null) {
            FileOptions.requireNetwork(spec, "--resume", resume, "a checkpoint or model saved by train",
                    FileOptions.NetworkKind.COMPUTATION_GRAPH);
        }
        FileOptions.requireWritableFile(spec, "--out", out);
        if (uiFile != null) {
            FileOptions.requireWritableFile(spec, "--ui-file", uiFile);
        }
    }

    private boolean isGiven(String option) {
        return spec.commandLine() != null && spec.commandLine().getParseResult() != null
                && spec.commandLine().getParseResult().hasMatchedOption(option);
    }

    private void require(boolean ok, String message) {
        if (!ok) {
            throw CommandLines.usage(spec, message);
        }
    }
}
