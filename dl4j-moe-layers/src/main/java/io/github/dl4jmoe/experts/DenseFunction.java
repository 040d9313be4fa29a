package io.github.dl4jmoe.experts;

import java.util.Map;

import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The eager path of a dense feed-forward layer: one {@link FeedForwardPass} on the layer's tokens whose weights are
 * the parameters under the given keys (bias keys null for a block without biases, gate keys null when not gated).
 */
public final class DenseFunction implements HostFunction<FeedForwardPass.Forward> {

    /** The parameter keys of the block's weights; null where the block has no such weight. */
    public record Keys(String up, String gate, String down, String upBias, String gateBias, String downBias) {
    }

    private final Keys keys;
    private final HiddenActivation activation;
    private final FeedForwardPass block = new FeedForwardPass();

    public DenseFunction(Keys keys, HiddenActivation activation) {
        this.keys = keys;
        this.activation = activation;
    }

    private FeedForwardPass.Weights weights(HostContext ctx) {
        return new FeedForwardPass.Weights(param(ctx, keys.up()), param(ctx, keys.gate()), param(ctx, keys.down()),
                param(ctx, keys.upBias()), param(ctx, keys.gateBias()), param(ctx, keys.downBias()));
    }

    private static INDArray param(HostContext ctx, String key) {
        return key == null ? null : ctx.param(key);
    }

    @Override
    public HostResult<FeedForwardPass.Forward> forward(HostContext ctx, INDArray[] inputs) {
        FeedForwardPass.Forward f = block.forward(weights(ctx), activation, inputs[0]);
        return new HostResult<>(f.output(), f, Map.of());
    }

    @Override
    public INDArray[] backward(HostContext ctx, INDArray[] inputs, FeedForwardPass.Forward saved,
                               INDArray outputGradient) {
        FeedForwardPass.Gradients g = block.backward(weights(ctx), activation, saved, outputGradient);
        write(ctx, keys.up(), g.up());
        write(ctx, keys.gate(), g.gate());
        write(ctx, keys.down(), g.down());
        write(ctx, keys.upBias(), g.upBias());
        write(ctx, keys.gateBias(), g.gateBias());
        write(ctx, keys.downBias(), g.downBias());
        return new INDArray[] {g.input()};
    }

    private static void write(HostContext ctx, String key, INDArray gradient) {
        if (key != null) {
            ctx.gradient(key).assign(gradient);
        }
    }
}
