package io.github.dl4jmoe.sequence;

import java.util.Map;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link PositionalEmbedding}'s eager path: {@code y[b, c, t] = x[b, c, t] + P[c, t]} for the first T of the learned
 * positions {@code P [d, contextLength]}; backward {@code dx = dy}, {@code dP[c, t] = sum_b dy[b, c, t]} (positions
 * beyond T get no gradient).
 */
final class PositionFunction implements HostFunction<Void> {

    @Override
    public HostResult<Void> forward(HostContext ctx, INDArray[] inputs) {
        INDArray x = inputs[0];
        LayerNormFunction.Layout l = LayerNormFunction.Layout.of(x);
        INDArray positions = ctx.param(PositionalEmbedding.POSITIONS);
        int context = (int) positions.size(1);
        double[] p = HostArrays.toDoubles(positions);
        double[] y = HostArrays.toDoubles(x);
        for (int b = 0; b < l.mb(); b++) {
            for (int c = 0; c < l.d(); c++) {
                for (int t = 0; t < l.steps(); t++) {
                    y[l.at(b, c, t)] += p[c * context + t];
                }
            }
        }
        return new HostResult<>(HostArrays.fromDoubles(y, x.dataType(), x.shape()), null, Map.of());
    }

    @Override
    public INDArray[] backward(HostContext ctx, INDArray[] inputs, Void saved, INDArray outputGradient) {
        INDArray x = inputs[0];
        LayerNormFunction.Layout l = LayerNormFunction.Layout.of(x);
        INDArray positions = ctx.param(PositionalEmbedding.POSITIONS);
        int context = (int) positions.size(1);
        double[] dy = HostArrays.toDoubles(outputGradient);
        double[] dp = new double[(int) positions.length()];
        for (int b = 0; b < l.mb(); b++) {
            for (int c = 0; c < l.d(); c++) {
                for (int t = 0; t < l.steps(); t++) {
                    dp[c * context + t] += dy[l.at(b, c, t)];
                }
            }
        }
        ctx.gradient(PositionalEmbedding.POSITIONS).assign(
                HostArrays.fromDoubles(dp, positions.dataType(), positions.shape()));
        return new INDArray[] {outputGradient.dup()};
    }
}
