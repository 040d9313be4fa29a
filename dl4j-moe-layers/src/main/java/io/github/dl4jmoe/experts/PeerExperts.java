package io.github.dl4jmoe.experts;

import java.lang.ref.Reference;
import java.util.stream.IntStream;

import io.github.dl4jmoe.layers.FfnActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;

/**
 * PEER's expert computation in Java, reading only the retrieved rows of the tables (He 2024, eq. 4 with
 * single-neuron experts):
 * <pre>
 *   pre_p = u_{e_p} . x_t,   a_p = act(pre_p)             for the slots p = t*S .. t*S + S - 1 of token t (S = h*k)
 *   f(x_t) = sum_p g_p a_p v_{e_p}                                                            [n, nOut]
 * </pre>
 * As a SameDiff graph this needs the gathered rows {@code [n, S, d]} of both tables in the forward pass, again in
 * SameDiff's recomputed forward inside backprop, and as gradients: 268 MB per table at n = 1024, S = 128, d = 256
 * in float. Here each row is read where it is used and the table gradients stay in factored form
 * ({@link RowGradients}). Work is split over tokens in two threads.
 *
 * <p>The tables are {@code [N, d]} (down, u) and {@code [N, nOut]} (up, v), FLOAT or DOUBLE; everything else is
 * passed as row-major double arrays.
 */
public final class PeerExperts {

    private static final double SQRT_HALF = Math.sqrt(0.5);
    private static final double INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
    private static final int THREADS = 2;

    private final INDArray down;
    private final INDArray up;
    private final int[] experts;
    private final int slots;
    private final FfnActivation activation;
    private final int tokens;
    private final int nIn;
    private final int nOut;

    /**
     * @param experts expert id of each slot, {@code [n * slots]} (token-major)
     * @param slots   experts per token, h*k
     */
    public PeerExperts(INDArray down, INDArray up, int[] experts, int slots, FfnActivation activation) {
        if (activation != FfnActivation.GELU && activation != FfnActivation.RELU) {
            throw new IllegalArgumentException("PeerExperts: GELU or RELU, got " + activation);
        }
        if (experts.length % slots != 0) {
            throw new IllegalArgumentException("PeerExperts: " + experts.length + " expert ids for " + slots
                    + " slots per token");
        }
        this.down = down;
        this.up = up;
        this.experts = experts;
        this.slots = slots;
        this.activation = activation;
        this.tokens = experts.length / slots;
        this.nIn = (int) down.size(1);
        this.nOut = (int) up.size(1);
    }

    /**
     * One forward pass.
     *
     * @param output      {@code [n, nOut]}
     * @param activations {@code a_p = act(pre_p)} per slot
     * @param slopes      {@code act'(pre_p)} per slot, for the backward pass
     */
    public record Forward(double[] output, double[] activations, double[] slopes) {
    }

    /** The gradients of one backward pass; the tables' are factored, see {@link RowGradients}. */
    public record Gradients(double[] gates, double[] input, RowGradients down, RowGradients up) {
    }

    /**
     * @param x     tokens {@code [n, nIn]}
     * @param gates {@code [n * slots]}
     */
    public Forward forward(double[] x, double[] gates) {
        checkLengths(x, gates);
        double[] pre = preActivations(x);
        double[][] actAndSlope = activate(pre);
        double[] act = actAndSlope[0];
        double[] out = new double[tokens * nOut];
        inParallel((from, to) -> {
            RowBuffer upRows = new RowBuffer(up);
            double[] v = new double[nOut];
            for (int t = from; t < to; t++) {
                for (int p = t * slots; p < (t + 1) * slots; p++) {
                    double w = gates[p] * act[p];
                    upRows.get(experts[p], v);
                    for (int j = 0; j < nOut; j++) {
                        out[t * nOut + j] += w * v[j];
                    }
                }
            }
        });
        Reference.reachabilityFence(up);
        return new Forward(out, act, actAndSlope[1]);
    }

    /**
     * Backward pass of {@link #forward} for {@code epsilon = dL/df}, {@code [n, nOut]}:
     * {@code dL/dg_p = a_p (eps_t . v_p)}, {@code dL/dpre_p = g_p act'(pre_p) (eps_t . v_p)},
     * {@code dL/dx_t = sum_p dL/dpre_p u_p}, {@code dL/du_p = dL/dpre_p x_t} and {@code dL/dv_p = g_p a_p eps_t}.
     * Reads the tables as they are now: call it before updating them.
     *
     * @param forward the forward pass of the same {@code x}, gates and tables
     */
    public Gradients backward(double[] x, double[] gates, Forward forward, double[] epsilon) {
        checkLengths(x, gates);
        double[] act = forward.activations();
        double[] slope = forward.slopes();
        double[] gateGrads = new double[experts.length];
        double[] preGrads = new double[experts.length];
        double[] upCoefficients = new double[experts.length];
        double[] inputGrads = new double[tokens * nIn];
        inParallel((from, to) -> {
            RowBuffer downRows = new RowBuffer(down);
            RowBuffer upRows = new RowBuffer(up);
            double[] u = new double[nIn];
            double[] v = new double[nOut];
            for (int t = from; t < to; t++) {
                for (int p = t * slots; p < (t + 1) * slots; p++) {
                    upRows.get(experts[p], v);
                    double ev = dot(epsilon, t * nOut, v);
                    gateGrads[p] = act[p] * ev;
                    preGrads[p] = gates[p] * slope[p] * ev;
                    upCoefficients[p] = gates[p] * act[p];
                    downRows.get(experts[p], u);
                    for (int j = 0; j < nIn; j++) {
                        inputGrads[t * nIn + j] += preGrads[p] * u[j];
                    }
                }
            }
        });
        Reference.reachabilityFence(down);
        Reference.reachabilityFence(up);
        return new Gradients(gateGrads, inputGrads, new RowGradients(experts, preGrads, x, slots, nIn),
                new RowGradients(experts, upCoefficients, epsilon, slots, nOut));
    }

    /** {@code u_{e_p} . x_t} for every slot. */
    private double[] preActivations(double[] x) {
        double[] pre = new double[experts.length];
        inParallel((from, to) -> {
            RowBuffer downRows = new RowBuffer(down);
            double[] u = new double[nIn];
            for (int t = from; t < to; t++) {
                for (int p = t * slots; p < (t + 1) * slots; p++) {
                    downRows.get(experts[p], u);
                    pre[p] = dot(x, t * nIn, u);
                }
            }
        });
        Reference.reachabilityFence(down);
        return pre;
    }

    /**
     * The activation and its derivative at {@code pre}: {@code [act, act']}. GELU is exact, {@code x Phi(x)} with
     * {@code Phi'(x) = phi(x)}, using ND4J's erf in one bulk call (the graph's GELU uses the same op).
     */
    private double[][] activate(double[] pre) {
        double[] act = new double[pre.length];
        double[] slope = new double[pre.length];
        if (activation == FfnActivation.RELU) {
            for (int p = 0; p < pre.length; p++) {
                act[p] = Math.max(pre[p], 0);
                slope[p] = pre[p] > 0 ? 1 : 0;
            }
            return new double[][] {act, slope};
        }
        double[] scaled = new double[pre.length];
        for (int p = 0; p < pre.length; p++) {
            scaled[p] = pre[p] * SQRT_HALF;
        }
        INDArray erf = HostArrays.fromDoubles(scaled, DataType.DOUBLE, scaled.length);
        Nd4j.exec(new Erf(erf, erf));
        double[] erfs = HostArrays.toDoubles(erf);
        for (int p = 0; p < pre.length; p++) {
            double cdf = 0.5 * (1 + erfs[p]);
            act[p] = pre[p] * cdf;
            slope[p] = cdf + pre[p] * INV_SQRT_2PI * Math.exp(-0.5 * pre[p] * pre[p]);
        }
        return new double[][] {act, slope};
    }

    /** {@code a[from..] . b}, in four independent sums so the additions pipeline. */
    private static double dot(double[] a, int from, double[] b) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int j = 0;
        for (; j + 3 < b.length; j += 4) {
            s0 += a[from + j] * b[j];
            s1 += a[from + j + 1] * b[j + 1];
            s2 += a[from + j + 2] * b[j + 2];
            s3 += a[from + j + 3] * b[j + 3];
        }
        for (; j < b.length; j++) {
            s0 += a[from + j] * b[j];
        }
        return (s0 + s1) + (s2 + s3);
    }

    private void checkLengths(double[] x, double[] gates) {
        if (x.length != (long) tokens * nIn || gates.length != experts.length) {
            throw new IllegalArgumentException("PeerExperts: " + tokens + " tokens of width " + nIn + " and "
                    + experts.length + " slots, got " + x.length + " input values and " + gates.length + " gates");
        }
    }

    @FunctionalInterface
    private interface TokenRange {
        void run(int from, int to);
    }

    /** Tokens split into contiguous ranges, one per thread: each output row is written by one thread only. */
    private void inParallel(TokenRange body) {
        IntStream.range(0, THREADS).parallel().forEach(part -> {
            int from = (int) ((long) tokens * part / THREADS);
            int to = (int) ((long) tokens * (part + 1) / THREADS);
            body.run(from, to);
        });
    }
}
