package io.github.dl4jmoe.sequence;

import java.util.Arrays;
import java.util.Map;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link LayerNorm}'s eager path: {@code y = gain * (x - mean) / sqrt(var + eps) + bias} over the d features of each
 * example and step, in Java over the input's {@code [mb, d, T]} (or {@code [mb, d]}) layout, with the backward pass
 * {@code dx = invStd (g - mean(g) - xhat mean(g xhat))}, {@code g = dy * gain}.
 */
final class LayerNormFunction implements HostFunction<LayerNormFunction.Saved> {

    private final double eps;

    LayerNormFunction(double eps) {
        this.eps = eps;
    }

    /** The normalised input and {@code 1 / sqrt(var + eps)} of each (example, step). */
    record Saved(double[] normalised, double[] invStd) {
    }

    @Override
    public HostResult<Saved> forward(HostContext ctx, INDArray[] inputs) {
        INDArray x = inputs[0];
        Layout l = Layout.of(x);
        double[] v = HostArrays.toDoubles(x);
        double[] gain = HostArrays.toDoubles(ctx.param(LayerNorm.GAIN));
        double[] bias = HostArrays.toDoubles(ctx.param(LayerNorm.BIAS));
        double[] xhat = new double[v.length];
        double[] invStd = new double[l.mb() * l.steps()];
        double[] y = new double[v.length];
        int steps = l.steps();
        double[] mean = new double[steps];
        double[] var = new double[steps];
        for (int b = 0; b < l.mb(); b++) {             // steps innermost: contiguous in [mb, d, T]
            Arrays.fill(mean, 0);
            Arrays.fill(var, 0);
            for (int c = 0; c < l.d(); c++) {
                for (int t = 0, i = l.at(b, c, 0); t < steps; t++, i++) {
                    mean[t] += v[i];
                }
            }
            for (int t = 0; t < steps; t++) {
                mean[t] /= l.d();
            }
            for (int c = 0; c < l.d(); c++) {
                for (int t = 0, i = l.at(b, c, 0); t < steps; t++, i++) {
                    double centred = v[i] - mean[t];
                    var[t] += centred * centred;
                }
            }
            for (int t = 0; t < steps; t++) {
                invStd[b * steps + t] = 1 / Math.sqrt(var[t] / l.d() + eps);
            }
            for (int c = 0; c < l.d(); c++) {
                for (int t = 0, i = l.at(b, c, 0); t < steps; t++, i++) {
                    xhat[i] = (v[i] - mean[t]) * invStd[b * steps + t];
                    y[i] = xhat[i] * gain[c] + bias[c];
                }
            }
        }
        return new HostResult<>(HostArrays.fromDoubles(y, x.dataType(), x.shape()), new Saved(xhat, invStd), Map.of());
    }

    @Override
    public INDArray[] backward(HostContext ctx, INDArray[] inputs, Saved saved, INDArray outputGradient) {
        INDArray x = inputs[0];
        Layout l = Layout.of(x);
        double[] dy = HostArrays.toDoubles(outputGradient);
        double[] gain = HostArrays.toDoubles(ctx.param(LayerNorm.GAIN));
        double[] xhat = saved.normalised();
        double[] dGain = new double[l.d()];
        double[] dBias = new double[l.d()];
        double[] dx = new double[dy.length];
        int steps = l.steps();
        double[] meanG = new double[steps];
        double[] meanGx = new double[steps];
        for (int b = 0; b < l.mb(); b++) {             // steps innermost: contiguous in [mb, d, T]
            Arrays.fill(meanG, 0);
            Arrays.fill(meanGx, 0);
            for (int c = 0; c < l.d(); c++) {
                for (int t = 0, i = l.at(b, c, 0); t < steps; t++, i++) {
                    dGain[c] += dy[i] * xhat[i];
                    dBias[c] += dy[i];
                    double g = dy[i] * gain[c];
                    meanG[t] += g;
                    meanGx[t] += g * xhat[i];
                }
            }
            for (int t = 0; t < steps; t++) {
                meanG[t] /= l.d();
                meanGx[t] /= l.d();
            }
            for (int c = 0; c < l.d(); c++) {
                for (int t = 0, i = l.at(b, c, 0); t < steps; t++, i++) {
                    dx[i] = saved.invStd()[b * steps + t] * (dy[i] * gain[c] - meanG[t] - xhat[i] * meanGx[t]);
                }
            }
        }
        INDArray gainParam = ctx.param(LayerNorm.GAIN);
        ctx.gradient(LayerNorm.GAIN).assign(HostArrays.fromDoubles(dGain, gainParam.dataType(), gainParam.shape()));
        ctx.gradient(LayerNorm.BIAS).assign(HostArrays.fromDoubles(dBias, gainParam.dataType(), gainParam.shape()));
        return new INDArray[] {HostArrays.fromDoubles(dx, x.dataType(), x.shape())};
    }

    /** Index arithmetic of {@code [mb, d, T]} in c order ({@code T = 1} for {@code [mb, d]}). */
    record Layout(int mb, int d, int steps) {
        static Layout of(INDArray x) {
            return new Layout((int) x.size(0), (int) x.size(1), x.rank() == 3 ? (int) x.size(2) : 1);
        }

        int at(int b, int c, int t) {
            return (b * d + c) * steps + t;
        }
    }
}
