package io.github.dl4jmoe.spark;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.cli.ModelOptions;
import io.github.dl4jmoe.spark.data.HadoopFiles;
import io.github.dl4jmoe.spark.data.TextWindows;
import io.github.dl4jmoe.stats.RoutingStatistics;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import io.github.dl4jmoe.zoo.checkpoint.TrainingDivergedException;
import io.github.dl4jmoe.zoo.data.BundledText;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterIterator.Split;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.datasets.iterator.EarlyTerminationDataSetIterator;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Trains a {@link MoETransformerLM} on a text with Spark (data-parallel, parameter averaging, see
 * {@link SparkTraining}), for spark-submit or a local run: prints the training loss of every epoch, saves a checkpoint
 * after each, then prints the validation loss and the routing statistics of the MoE layers gathered from every
 * partition of the validation text. Every save replaces the model at {@code --out} atomically
 * ({@link HadoopFiles#replaceFromLocal}); a training loss or parameter that is no longer finite stops the run before
 * that epoch's save, naming the epoch, with exit code 1 ({@link TrainingDivergedException}).
 *
 * <p>The model options are the examples' {@code train} command's ({@link ModelOptions}); text and output are Hadoop
 * file system locations, so {@code hdfs://} works. README.md shows the spark-submit command lines.
 */
@Command(name = "spark-train", mixinStandardHelpOptions = true, version = "dl4j-moe-spark 0.1.0",
        description = "Train a MoETransformerLM character model on Spark (default text: bundled tiny Shakespeare).")
public final class SparkTrainProgram implements Callable<Integer> {

    /** Master when neither --master nor spark-submit sets one. */
    public static final String LOCAL_MASTER = "local[*]";
    private static final String APP_NAME = "dl4j-moe spark-train";
    private static final String SPARK_MASTER = "spark.master";

    @Option(names = "--text", description = "UTF-8 text: a local path or any Hadoop file system URI, e.g. "
            + "hdfs:///data/input.txt (default: bundled tiny Shakespeare)")
    String text;
    @Mixin
    ModelOptions modelOptions;
    @Option(names = "--batch-size", defaultValue = "32", description = "windows per minibatch on each worker "
            + "(default: ${DEFAULT-VALUE})")
    int batchSize;
    @Option(names = "--averaging-frequency", defaultValue = "5", description = "minibatches each worker fits between "
            + "two parameter averagings (default: ${DEFAULT-VALUE})")
    int averagingFrequency;
    @Option(names = "--workers", description = "parallel fits per round (default: Spark's default parallelism)")
    Integer workers;
    @Option(names = "--epochs", defaultValue = "1", description = "passes over the training text "
            + "(default: ${DEFAULT-VALUE})")
    int epochs;
    @Option(names = "--eval-batches", defaultValue = "20", description = "validation batches of --batch-size windows "
            + "for the final validation loss; 0 = the whole validation split (default: ${DEFAULT-VALUE})")
    int evalBatches;
    @Option(names = "--out", defaultValue = "models/spark-char-lm.zip", description = "where the model is saved after "
            + "every epoch: a local path or Hadoop file system URI (default: ${DEFAULT-VALUE})")
    String out;
    @Option(names = "--master", description = "Spark master URL (default: the one spark-submit sets, else "
            + LOCAL_MASTER + ")")
    String master;
    @Spec
    CommandSpec spec;

    /**
     * What a run produced.
     *
     * @param epochLosses    training loss per character of each epoch (nats), over every minibatch of every worker
     * @param validationLoss validation loss per character over {@code --eval-batches}, on the driver
     * @param routing        merged routing statistics of each MoE layer over the validation text, from all partitions
     * @param tokens         characters predicted in training
     */
    public record Result(List<Double> epochLosses, double validationLoss, Map<String, RoutingStatistics> routing,
                         long tokens, double seconds, String model) {
    }

    public static void main(String[] args) {
        CommandLines.quietLoggers(args);                // Spark's INFO logs of every stage, ND4J's banner
        CommandLines.useNativeThreadDefault();
        System.exit(commandLine().execute(args));
    }

    /**
     * The command line, for tests and embedding. Every error prints one line naming the option or file and the fix,
     * exit code 2 for a usage error (an option out of range, a missing text) and 1 for a failure while running, with a
     * stack trace only under {@code --verbose}, as the examples' {@code MoeExamples} ({@link CommandLines#userFacing}).
     */
    public static CommandLine commandLine() {
        return CommandLines.userFacing(new CommandLine(new SparkTrainProgram()));
    }

    @Override
    public Integer call() throws IOException {
        Result r = run(System.out);
        System.out.printf("trained %d epochs in %.0f s (%.0f tokens/s); validation loss %.4f; saved %s%n",
                r.epochLosses().size(), r.seconds(), r.tokens() / r.seconds(), r.validationLoss(), r.model());
        return 0;
    }

    /** Validates the options, then trains in a Spark context of its own, stopped at the end. */
    public Result run(PrintStream log) throws IOException {
        validateOptions();
        SparkConf conf = new SparkConf().setAppName(APP_NAME);   // reads the spark.* properties spark-submit sets
        if (master != null) {
            conf.setMaster(master);
        } else {
            conf.setIfMissing(SPARK_MASTER, LOCAL_MASTER);
        }
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            return run(sc, log);
        }
    }

    private Result run(JavaSparkContext sc, PrintStream log) throws IOException {
        String corpus = text == null ? BundledText.TINY_SHAKESPEARE.read() : readText(sc);
        CharLanguageModel model = modelOptions.newModel(CharacterVocabulary.of(corpus));
        CharacterIterator train = split(corpus, model.vocabulary(), Split.TRAIN);
        CharacterIterator validation = split(corpus, model.vocabulary(), Split.VALIDATION);

        SparkTraining.Builder builder = SparkTraining.builder(sc, model.network()).batchSizePerWorker(batchSize)
                .averagingFrequency(averagingFrequency).seed(modelOptions.seed());
        if (workers != null) {
            builder.workers(workers);
        }
        SparkTraining training = builder.build();
        JavaRDD<DataSet> windows = TextWindows.rdd(sc, train.text(), model.vocabulary(), modelOptions.context(),
                training.workers());
        log.printf("MoETransformerLM: %,d parameters, vocabulary %d; %d workers x %d windows x %d minibatches per "
                        + "round, %d rounds per epoch fit %d of the %d training windows%n",
                model.network().numParams(), model.vocabulary().size(), training.workers(), batchSize,
                averagingFrequency, training.roundsPerEpoch(train.windows()),
                training.examplesPerEpoch(train.windows()), train.windows());

        long start = System.nanoTime();
        List<Double> losses = new ArrayList<>();
        long tokens = 0;
        String lastGood = null;
        for (int epoch = 1; epoch <= epochs; epoch++) {
            long epochStart = System.nanoTime();
            double loss = training.fitEpoch(windows);
            TrainingDivergedException.checkLoss(loss, epoch, "epoch " + epoch, lastGood);
            losses.add(loss);
            tokens += training.lastEpochUnits();
            double seconds = seconds(epochStart);
            TrainingDivergedException.checkParameters(model.network().params(), epoch, "epoch " + epoch, lastGood);
            save(model, sc);
            lastGood = out;
            log.printf("epoch %d/%d: training loss %.4f (%.0f s, %.0f tokens/s); checkpoint %s%n", epoch, epochs,
                    losses.get(epoch - 1), seconds, training.lastEpochUnits() / seconds, out);
        }
        double seconds = seconds(start);

        double validationLoss = model.validationLoss(limited(validation));
        log.printf("validation loss %.4f%n", validationLoss);
        Map<String, RoutingStatistics> routing = training.routingStatistics(TextWindows.rdd(sc, validation.text(),
                model.vocabulary(), modelOptions.context(), training.workers()));
        routing.forEach((layer, s) -> log.printf("%s: %.3f experts per token over %,d validation tokens%n", layer,
                s.meanExpertsPerToken(), s.tokens()));
        return new Result(losses, validationLoss, routing, tokens, seconds, out);
    }

    private CharacterIterator split(String corpus, CharacterVocabulary vocabulary, Split split) {
        return CharacterIterator.builder().text(corpus).vocabulary(vocabulary).sequenceLength(modelOptions.context())
                .batchSize(batchSize).split(split).shuffle(false).seed(modelOptions.seed()).build();
    }

    private DataSetIterator limited(CharacterIterator validation) {
        return evalBatches == 0 ? validation : new EarlyTerminationDataSetIterator(validation, evalBatches);
    }

    /**
     * Saves with the updater state, so training can resume, through the Hadoop file system of {@code --out}: complete
     * beside it, then renamed over it ({@link HadoopFiles#replaceFromLocal}).
     */
    private void save(CharLanguageModel model, JavaSparkContext sc) throws IOException {
        Path local = Files.createTempFile("dl4j-moe-spark", ".zip");
        try {
            model.save(local, true);
            HadoopFiles.replaceFromLocal(local, out, sc.hadoopConfiguration());
        } finally {
            Files.deleteIfExists(local);
        }
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    /** Every check that needs no Spark context, each failure a usage error naming the option. */
    private void validateOptions() {
        modelOptions.validate();
        require(batchSize >= 1, "--batch-size", batchSize, 1);
        require(averagingFrequency >= 1, "--averaging-frequency", averagingFrequency, 1);
        require(workers == null || workers >= 1, "--workers", workers, 1);
        require(epochs >= 1, "--epochs", epochs, 1);
        require(evalBatches >= 0, "--eval-batches", evalBatches, 0);
        if (out.isBlank()) {
            throw CommandLines.usage(spec, "--out must name a file, e.g. models/spark-char-lm.zip");
        }
    }

    private void require(boolean ok, String option, Object value, int minimum) {
        if (!ok) {
            throw CommandLines.usage(spec, option + " must be at least " + minimum + ", got " + value);
        }
    }

    /** The text of {@code --text}; a missing file or one that is not UTF-8 is a usage error. */
    private String readText(JavaSparkContext sc) throws IOException {
        try {
            return HadoopFiles.readText(text, sc.hadoopConfiguration());
        } catch (FileNotFoundException | CharacterCodingException e) {
            throw CommandLines.usage(spec, "--text: " + e.getMessage(), e);
        }
    }
}
