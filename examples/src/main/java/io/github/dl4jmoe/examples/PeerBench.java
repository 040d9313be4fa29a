package io.github.dl4jmoe.examples;

import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.runtime.HostUpdatedStep;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Training-step throughput of a {@link PeerLayer} (forward, backward, update), in the configuration of the PyTorch
 * reference {@code shared/bench/peer_torch.py}: PEER output straight into an MSE loss, SGD by default.
 */
@Command(name = "peer", mixinStandardHelpOptions = true,
        description = "PEER layer training throughput (prints: peer-train tokens/s=<number> experts=<N>).")
public final class PeerBench implements Callable<Integer> {

    @Option(names = "--tokens", defaultValue = "1024", description = "tokens per step (default: ${DEFAULT-VALUE})")
    int tokens;
    @Option(names = "--dim", defaultValue = "256", description = "d_model (default: ${DEFAULT-VALUE})")
    int dim;
    @Option(names = "--experts", defaultValue = "65536", description = "N, a perfect square "
            + "(default: ${DEFAULT-VALUE})")
    long experts;
    @Option(names = "--heads", defaultValue = "8", description = "heads (default: ${DEFAULT-VALUE})")
    int heads;
    @Option(names = "--topk", defaultValue = "16", description = "experts per head (default: ${DEFAULT-VALUE})")
    int topK;
    @Option(names = "--dkey", defaultValue = "128", description = "query/key size (default: ${DEFAULT-VALUE})")
    int keySize;
    @Option(names = "--steps", defaultValue = "10", description = "timed steps (default: ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--warmup", defaultValue = "2", description = "untimed steps (default: ${DEFAULT-VALUE})")
    int warmup;
    @Option(names = "--updater", defaultValue = "SGD", description = "SGD (as the reference) or ADAM "
            + "(default: ${DEFAULT-VALUE})")
    Updater updater;
    @Option(names = "--full-step", description = "let DL4J step the whole parameter vector, expert tables included "
            + "(without HostUpdatedStep; for comparison)")
    boolean fullStep;

    /** The updater of the timed training steps. */
    public enum Updater { SGD, ADAM }

    @Spec
    CommandSpec spec;

    /** Throughput of one run, and the time of one inference pass ({@code output}) after training. */
    public record Result(double tokensPerSecond, double millisPerStep, long experts, double inferenceMillis) {
    }

    @Override
    public Integer call() {
        Result r = run();
        System.out.printf("peer-train tokens/s=%.0f experts=%d step_ms=%.1f infer_ms=%.1f%n", r.tokensPerSecond(),
                r.experts(), r.millisPerStep(), r.inferenceMillis());
        return 0;
    }

    public Result run() {
        validateOptions();
        IUpdater u = switch (updater) {
            case SGD -> new Sgd(1e-3);
            case ADAM -> new Adam(1e-3);
        };
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(0).dataType(DataType.FLOAT).updater(u)
                .list()
                .layer(layer())
                .layer(new LossLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(dim))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        if (!fullStep) {
            HostUpdatedStep.install(net);
        }
        Nd4j.getRandom().setSeed(0);
        DataSet batch = new DataSet(Nd4j.randn(DataType.FLOAT, tokens, dim), Nd4j.randn(DataType.FLOAT, tokens, dim));
        for (int i = 0; i < warmup; i++) {
            net.fit(batch);
        }
        long start = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            net.fit(batch);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        long inferStart = System.nanoTime();
        net.output(batch.getFeatures());
        double inferMillis = (System.nanoTime() - inferStart) / 1e6;
        return new Result(tokens * (double) steps / seconds, 1000 * seconds / steps, experts, inferMillis);
    }

    /** Every check that needs no timing run, each failure a usage error naming the option. */
    private void validateOptions() {
        require(tokens >= 1, "--tokens must be at least 1, got " + tokens + " (try 1024)");
        require(dim >= 1, "--dim must be at least 1, got " + dim + " (try 256)");
        require(steps >= 1, "--steps must be at least 1, got " + steps + " (the throughput is a mean over the "
                + "steps; try 10)");
        require(warmup >= 0, "--warmup must be 0 or more, got " + warmup + " (try 2)");
        layer();
    }

    /** The PEER layer of the options; the layer's own check, e.g. of a perfect square, names the option. */
    private PeerLayer layer() {
        try {
            return new PeerLayer.Builder().numExperts(experts).heads(heads).topK(topK).keySize(keySize).build();
        } catch (IllegalArgumentException | DL4JInvalidConfigException e) {
            throw CommandLines.usage(spec, "--experts " + experts + ", --heads " + heads + ", --topk " + topK
                    + ", --dkey " + keySize + ": " + e.getMessage(), e);
        }
    }

    private void require(boolean ok, String message) {
        if (!ok) {
            throw CommandLines.usage(spec, message);
        }
    }
}
