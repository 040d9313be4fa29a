package io.github.dl4jmoe.examples;

import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FfnActivation;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.Router;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Forward + backward time of {@link MoeFeedForward} with token dispatch (only the selected experts run) against the
 * same layer computing every expert on every token (same weights), and against a {@link DenseFeedForward} whose
 * hidden width equals the active expert width (k x expert hidden), alternating in one run. Each is timed as
 * {@code moe_torch.py} times its layers: the layer alone (DL4J's {@code Layer.activate} in training mode, then
 * {@code backpropGradient} of a gradient of ones, as {@code y.sum().backward()}), not the network around it.
 */
@Command(name = "moe", mixinStandardHelpOptions = true,
        description = "MoE layer: dispatch to the selected experts vs computing all experts densely.")
public final class MoeBench implements Callable<Integer> {

    @Option(names = "--tokens", defaultValue = "2048", description = "tokens per step (default: ${DEFAULT-VALUE})")
    int tokens;
    @Option(names = "--dim", defaultValue = "256", description = "d_model (default: ${DEFAULT-VALUE})")
    int dim;
    @Option(names = "--experts", defaultValue = "64", description = "number of experts E (default: ${DEFAULT-VALUE})")
    int experts;
    @Option(names = "--topk", defaultValue = "2", description = "k of top-k routing (default: ${DEFAULT-VALUE})")
    int topK;
    @Option(names = "--top-p", description = "use top-p routing with this p instead of top-k")
    Double topP;
    @Option(names = "--expert-hidden", defaultValue = "64",
            description = "expert hidden width, d_ff / 16 for d_ff = 4 d (default: ${DEFAULT-VALUE})")
    int expertHidden;
    @Option(names = "--steps", defaultValue = "10", description = "timed steps per variant (default: ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--warmup", defaultValue = "30", description = "untimed steps per variant, until the JIT has "
            + "compiled the host loops (default: ${DEFAULT-VALUE})")
    int warmup;
    @Spec
    CommandSpec spec;

    /** Mean milliseconds per forward + backward step of each variant. */
    public record Result(double dispatchMillis, double denseMillis, double activeWidthDenseMillis) {
        /** Dispatch time over all-experts time: the target is at most 0.5. */
        public double ratio() {
            return dispatchMillis / denseMillis;
        }
    }

    @Override
    public Integer call() {
        Result r = run();
        System.out.printf("moe-train tokens=%d dim=%d experts=%d router=%s expertHidden=%d: dispatch %.1f ms, "
                        + "all experts %.1f ms, ratio %.3f; dense FFN of the active width %.1f ms%n", tokens, dim,
                experts, router(), expertHidden, r.dispatchMillis(), r.denseMillis(), r.ratio(),
                r.activeWidthDenseMillis());
        return 0;
    }

    public Result run() {
        validateOptions();
        Nd4j.getRandom().setSeed(1);
        MultiLayerNetwork dispatch = network(false);
        MultiLayerNetwork dense = network(true);
        dense.setParams(dispatch.params());
        MultiLayerNetwork activeWidth = network(new DenseFeedForward.Builder()
                .dFf((long) (topP == null ? topK : 1) * expertHidden).activation(FfnActivation.SWIGLU).hasBias(false)
                .build());
        INDArray x = Nd4j.randn(DataType.FLOAT, tokens, dim);
        INDArray ones = Nd4j.ones(DataType.FLOAT, tokens, dim);
        for (MultiLayerNetwork net : new MultiLayerNetwork[] {dispatch, dense, activeWidth}) {
            net.initGradientsView();                       // the layer writes its gradients into the net's views
            for (int i = 0; i < warmup; i++) {
                time(net, x, ones);
            }
        }
        long dispatchNanos = 0;
        long denseNanos = 0;
        long activeWidthNanos = 0;
        for (int i = 0; i < steps; i++) {      // alternate so all see the same machine load
            dispatchNanos += time(dispatch, x, ones);
            denseNanos += time(dense, x, ones);
            activeWidthNanos += time(activeWidth, x, ones);
        }
        return new Result(dispatchNanos / 1e6 / steps, denseNanos / 1e6 / steps, activeWidthNanos / 1e6 / steps);
    }

    /** One forward + backward pass of the network's first layer, the one measured. */
    private static long time(MultiLayerNetwork net, INDArray x, INDArray outputGradient) {
        Layer layer = net.getLayer(0);
        LayerWorkspaceMgr noWorkspaces = LayerWorkspaceMgr.noWorkspaces();
        long start = System.nanoTime();
        layer.setInput(x, noWorkspaces);
        layer.activate(true, noWorkspaces);
        layer.backpropGradient(outputGradient, noWorkspaces);
        return System.nanoTime() - start;
    }

    private Router router() {
        return topP == null ? new TopKRouter(topK) : new TopPRouter(topP);
    }

    private MultiLayerNetwork network(boolean allExperts) {
        return network(new MoeFeedForward.Builder().numExperts(experts).expertHidden(expertHidden).router(router())
                .denseCompute(allExperts).build());
    }

    /** A network of the one layer: it holds the layer's parameters and gradient views. */
    private MultiLayerNetwork network(org.deeplearning4j.nn.conf.layers.Layer block) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(1).dataType(DataType.FLOAT).updater(new Sgd(1e-3))
                .list()
                .layer(block)
                .setInputType(InputType.feedForward(dim))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** Every check that needs no timing run, each failure a usage error naming the option. */
    private void validateOptions() {
        require(tokens >= 1, "--tokens must be at least 1, got " + tokens + " (try 2048)");
        require(dim >= 1, "--dim must be at least 1, got " + dim + " (try 256)");
        require(experts >= 2, "--experts must be at least 2, got " + experts + " (try 64)");
        require(topK >= 1 && topK <= experts, "--topk must be in [1, --experts = " + experts + "], got " + topK
                + " (try 2)");
        require(topP == null || topP > 0 && topP <= 1, "--top-p must be in (0, 1], got " + topP + " (try 0.4)");
        require(expertHidden >= 1, "--expert-hidden must be at least 1, got " + expertHidden + " (try 64)");
        require(steps >= 1, "--steps must be at least 1, got " + steps + " (the times are means over the steps; "
                + "try 10)");
        require(warmup >= 0, "--warmup must be 0 or more, got " + warmup + " (try 30)");
    }

    private void require(boolean ok, String message) {
        if (!ok) {
            throw CommandLines.usage(spec, message);
        }
    }
}
