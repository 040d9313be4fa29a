package io.github.dl4jmoe.sequence;

import java.util.Arrays;
import java.util.Map;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.RowBuffer;
import io.github.dl4jmoe.host.ScratchArrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link LayerNorm}'s eager path: {@code y = gain * (x - mean) / sqrt(var + eps) + bias} over the d features of each
 * example and step, in Java over the input's {@code [mb, d, T]} (or {@code [mb, d]}) layout, with the backward pass
 * {@code dx = invStd (g - mean(g) - xhat mean(g xhat))}, {@code g = dy * gain}. Examples are read and written row by
 * row ({@link RowBuffer}) and, in large inputs, split over {@link Parallelism#threads()} threads; the arithmetic is in
 * double precision. The output, the input gradient and the saved state are reused from pass to pass (the runtime copies
 * what it hands to DL4J): new arrays of this size cost more than the arithmetic (page faults off the heap, and Java
 * arrays of a megabyte, which G1 allocates outside its young generation).
 */
final class LayerNormFunction implements HostFunction<LayerNormFunction.Saved> {

    /** Below this many input values the examples are normalised in the calling thread alone. */
    private static final int MIN_PARALLEL = 1 << 14;

    private final double eps;
    private final ScratchArrays scratch = new ScratchArrays();
    /** The last forward pass's normalised input and {@code 1 / sqrt(var + eps)}, reused by the next one. */
    private double[] normalised = new double[0];
    private double[] invStd = new double[0];

    LayerNormFunction(double eps) {
        this.eps = eps;
    }

    /**
     * The normalised input and {@code 1 / sqrt(var + eps)} of each (example, step), in {@code [mb, d, T]} and
     * {@code [mb, T]} order; valid until the next forward pass.
     */
    record Saved(double[] normalised, double[] invStd) {
    }

    @Override
    public HostResult<Saved> forward(HostContext ctx, INDArray[] inputs) {
        INDArray x = readable(inputs[0]);
        Layout l = Layout.of(x);
        if (normalised.length != x.length()) {
            normalised = new double[Math.toIntExact(x.length())];
            invStd = new double[l.mb() * l.steps()];
        }
        double[] xhat = normalised;
        double[] inv = invStd;
        double[] gain = HostArrays.toDoubles(ctx.param(LayerNorm.GAIN));
        double[] bias = HostArrays.toDoubles(ctx.param(LayerNorm.BIAS));
        INDArray y = scratch.get("y", x.dataType(), x.shape());
        Parallelism.inRanges(l.mb(), parts(l), (part, from, to) -> {
            RowBuffer in = RowBuffer.of(l.rows(x));
            RowBuffer out = RowBuffer.of(l.rows(y));
            int d = l.d();
            int steps = l.steps();
            double[] v = new double[d * steps];                   // one example, [d, T]
            double[] row = new double[steps];
            double[] mean = new double[steps];
            double[] var = new double[steps];
            for (int b = from; b < to; b++) {          // steps innermost: contiguous in [mb, d, T]
                l.read(in, b, row, v);
                Arrays.fill(mean, 0);
                Arrays.fill(var, 0);
                for (int c = 0; c < d; c++) {
                    for (int t = 0; t < steps; t++) {
                        mean[t] += v[c * steps + t];
                    }
                }
                for (int t = 0; t < steps; t++) {
                    mean[t] /= d;
                }
                for (int c = 0; c < d; c++) {
                    for (int t = 0; t < steps; t++) {
                        double centred = v[c * steps + t] - mean[t];
                        var[t] += centred * centred;
                    }
                }
                for (int t = 0; t < steps; t++) {
                    inv[b * steps + t] = 1 / Math.sqrt(var[t] / d + eps);
                }
                for (int c = 0; c < d; c++) {
                    for (int t = 0, i = l.at(b, c, 0); t < steps; t++, i++) {
                        xhat[i] = (v[c * steps + t] - mean[t]) * inv[b * steps + t];
                        row[t] = xhat[i] * gain[c] + bias[c];
                    }
                    out.put((long) b * d + c, row);
                }
            }
        });
        return new HostResult<>(y, new Saved(xhat, inv), Map.of());
    }

    @Override
    public INDArray[] backward(HostContext ctx, INDArray[] inputs, Saved saved, INDArray outputGradient) {
        INDArray dy = readable(outputGradient);
        Layout l = Layout.of(dy);
        double[] gain = HostArrays.toDoubles(ctx.param(LayerNorm.GAIN));
        double[] xhat = saved.normalised();
        double[] inv = saved.invStd();
        INDArray dx = scratch.get("dx", dy.dataType(), dy.shape());
        int parts = parts(l);
        double[][] dGains = new double[parts][l.d()];          // one per part, summed below
        double[][] dBiases = new double[parts][l.d()];
        Parallelism.inRanges(l.mb(), parts, (part, from, to) -> {
            RowBuffer in = RowBuffer.of(l.rows(dy));
            RowBuffer out = RowBuffer.of(l.rows(dx));
            int d = l.d();
            int steps = l.steps();
            double[] dGain = dGains[part];
            double[] dBias = dBiases[part];
            double[] g = new double[d * steps];                   // one example's dy, [d, T]
            double[] row = new double[steps];
            double[] meanG = new double[steps];
            double[] meanGx = new double[steps];
            for (int b = from; b < to; b++) {          // steps innermost: contiguous in [mb, d, T]
                l.read(in, b, row, g);
                Arrays.fill(meanG, 0);
                Arrays.fill(meanGx, 0);
                for (int c = 0; c < d; c++) {
                    for (int t = 0, i = l.at(b, c, 0); t < steps; t++, i++) {
                        double dyi = g[c * steps + t];
                        dGain[c] += dyi * xhat[i];
                        dBias[c] += dyi;
                        meanG[t] += dyi * gain[c];
                        meanGx[t] += dyi * gain[c] * xhat[i];
                    }
                }
                for (int t = 0; t < steps; t++) {
                    meanG[t] /= d;
                    meanGx[t] /= d;
                }
                for (int c = 0; c < d; c++) {
                    for (int t = 0, i = l.at(b, c, 0); t < steps; t++, i++) {
                        row[t] = inv[b * steps + t] * (g[c * steps + t] * gain[c] - meanG[t] - xhat[i] * meanGx[t]);
                    }
                    out.put((long) b * d + c, row);
                }
            }
        });
        for (int p = 1; p < parts; p++) {
            for (int c = 0; c < l.d(); c++) {
                dGains[0][c] += dGains[p][c];
                dBiases[0][c] += dBiases[p][c];
            }
        }
        INDArray gainParam = ctx.param(LayerNorm.GAIN);
        ctx.gradient(LayerNorm.GAIN).assign(HostArrays.fromDoubles(dGains[0], gainParam.dataType(),
                gainParam.shape()));
        ctx.gradient(LayerNorm.BIAS).assign(HostArrays.fromDoubles(dBiases[0], gainParam.dataType(),
                gainParam.shape()));
        return new INDArray[] {dx};
    }

    /** {@code a} as a c-order FLOAT or DOUBLE array (itself when it is one), for row access. */
    private static INDArray readable(INDArray a) {
        boolean direct = a.dataType() == DataType.FLOAT || a.dataType() == DataType.DOUBLE;
        return HostArrays.rowMajor(direct ? a : a.castTo(DataType.DOUBLE));
    }

    /** Examples run in threads, in contiguous ranges, when the input is large enough to pay for them. */
    private static int parts(Layout l) {
        return (long) l.mb() * l.d() * l.steps() < MIN_PARALLEL ? 1 : Math.min(Parallelism.threads(), l.mb());
    }

    /** Index arithmetic of {@code [mb, d, T]} in c order ({@code T = 1} for {@code [mb, d]}). */
    record Layout(int mb, int d, int steps) {
        static Layout of(INDArray x) {
            return new Layout((int) x.size(0), (int) x.size(1), x.rank() == 3 ? (int) x.size(2) : 1);
        }

        int at(int b, int c, int t) {
            return (b * d + c) * steps + t;
        }

        /** A c-order array of this layout as rows {@code [mb d, T]}: row {@code b d + c} is example b, feature c. */
        INDArray rows(INDArray a) {
            return a.reshape('c', (long) mb * d, steps);
        }

        /** Example {@code b} ({@code [d, T]}, steps innermost) into {@code out}, through {@code row} (T values). */
        void read(RowBuffer rows, int b, double[] row, double[] out) {
            for (int c = 0; c < d; c++) {
                rows.get((long) b * d + c, row);
                System.arraycopy(row, 0, out, c * steps, steps);
            }
        }
    }
}
