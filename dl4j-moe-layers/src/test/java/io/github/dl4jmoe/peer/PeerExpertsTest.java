package io.github.dl4jmoe.peer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Random;

import io.github.dl4jmoe.ops.HiddenActivation;
import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** {@link PeerExperts} against the formula evaluated slot by slot, and its backward pass against finite differences. */
class PeerExpertsTest {

    private static final int TOKENS = 3;
    private static final int SLOTS = 4;
    private static final int EXPERTS = 9;
    private static final int D_IN = 5;
    private static final int D_OUT = 2;
    private static final int[] IDS = {0, 8, 3, 3, 5, 1, 8, 2, 7, 7, 4, 0};   // repeats within and across tokens

    /** A table as a view into a longer vector, as DL4J hands parameters to layers. */
    private static INDArray table(DataType type, int width, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray flat = Nd4j.randn(type, 1, 7 + EXPERTS * width);
        return flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(7, 7 + EXPERTS * width))
                .reshape('c', EXPERTS, width);
    }

    private static double[] random(int n, long seed) {
        Random r = new Random(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextGaussian();
        }
        return v;
    }

    private static double act(HiddenActivation a, double z) {
        return a == HiddenActivation.RELU ? Math.max(z, 0) : 0.5 * z * (1 + Erf.erf(z / Math.sqrt(2)));
    }

    /** f(x_t) = sum_p g_p act(u_p . x_t) v_p, straight from the tables. */
    private static double[] naive(INDArray down, INDArray up, double[] x, double[] gates, HiddenActivation a) {
        double[] out = new double[TOKENS * D_OUT];
        for (int t = 0; t < TOKENS; t++) {
            for (int p = t * SLOTS; p < (t + 1) * SLOTS; p++) {
                double pre = 0;
                for (int j = 0; j < D_IN; j++) {
                    pre += down.getDouble(IDS[p], j) * x[t * D_IN + j];
                }
                for (int j = 0; j < D_OUT; j++) {
                    out[t * D_OUT + j] += gates[p] * act(a, pre) * up.getDouble(IDS[p], j);
                }
            }
        }
        return out;
    }

    private static double loss(double[] out, double[] eps) {
        double l = 0;
        for (int i = 0; i < out.length; i++) {
            l += out[i] * eps[i];
        }
        return l;
    }

    @ParameterizedTest
    @CsvSource({"FLOAT, GELU", "DOUBLE, GELU", "DOUBLE, RELU"})
    void forwardMatchesTheFormula(DataType type, HiddenActivation a) {
        INDArray down = table(type, D_IN, 1);
        INDArray up = table(type, D_OUT, 2);
        double[] x = random(TOKENS * D_IN, 3);
        double[] gates = random(TOKENS * SLOTS, 4);
        double[] out = new PeerExperts(down, up, IDS, SLOTS, a).forward(x, gates).output();
        assertArrayEquals(naive(down, up, x, gates, a), out, type == DataType.FLOAT ? 1e-5 : 1e-12);
    }

    @ParameterizedTest
    @CsvSource({"GELU", "RELU"})
    void backwardMatchesFiniteDifferences(HiddenActivation a) {
        INDArray down = table(DataType.DOUBLE, D_IN, 1);
        INDArray up = table(DataType.DOUBLE, D_OUT, 2);
        double[] x = random(TOKENS * D_IN, 3);
        double[] gates = random(TOKENS * SLOTS, 4);
        double[] eps = random(TOKENS * D_OUT, 5);
        PeerExperts experts = new PeerExperts(down, up, IDS, SLOTS, a);
        double[] downGrads = new double[EXPERTS * D_IN];
        double[] upGrads = new double[EXPERTS * D_OUT];
        boolean[] seen = new boolean[EXPERTS];
        PeerExperts.Gradients g = experts.backward(x, gates, experts.forward(x, gates), eps, () -> (e, dd, du) -> {
            assertFalse(seen[e], "expert " + e + " delivered twice");
            seen[e] = true;
            System.arraycopy(dd, 0, downGrads, e * D_IN, D_IN);
            System.arraycopy(du, 0, upGrads, e * D_OUT, D_OUT);
        });
        double h = 1e-6;
        double[] dx = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double[] plus = x.clone();
            double[] minus = x.clone();
            plus[i] += h;
            minus[i] -= h;
            dx[i] = (loss(naive(down, up, plus, gates, a), eps) - loss(naive(down, up, minus, gates, a), eps))
                    / (2 * h);
        }
        assertArrayEquals(dx, g.input(), 1e-7);
        double[] dg = new double[gates.length];
        for (int i = 0; i < gates.length; i++) {
            double[] plus = gates.clone();
            double[] minus = gates.clone();
            plus[i] += h;
            minus[i] -= h;
            dg[i] = (loss(naive(down, up, x, plus, a), eps) - loss(naive(down, up, x, minus, a), eps)) / (2 * h);
        }
        assertArrayEquals(dg, g.gates(), 1e-7);
        assertArrayEquals(tableGradient(down, up, x, gates, eps, a, true), downGrads, 1e-7);
        assertArrayEquals(tableGradient(down, up, x, gates, eps, a, false), upGrads, 1e-7);
    }

    private static double[] tableGradient(INDArray down, INDArray up, double[] x, double[] gates, double[] eps,
                                          HiddenActivation a, boolean ofDown) {
        INDArray table = ofDown ? down : up;
        double[] grad = new double[(int) table.length()];
        double h = 1e-6;
        for (int r = 0; r < table.size(0); r++) {
            for (int c = 0; c < table.size(1); c++) {
                double orig = table.getDouble(r, c);
                table.putScalar(r, c, orig + h);
                double plus = loss(naive(down, up, x, gates, a), eps);
                table.putScalar(r, c, orig - h);
                double minus = loss(naive(down, up, x, gates, a), eps);
                table.putScalar(r, c, orig);
                grad[r * (int) table.size(1) + c] = (plus - minus) / (2 * h);
            }
        }
        return grad;
    }
}
