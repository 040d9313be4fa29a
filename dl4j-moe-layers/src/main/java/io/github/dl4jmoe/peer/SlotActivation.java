package io.github.dl4jmoe.peer;

import io.github.dl4jmoe.host.FloatCdf;
import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The activation of PEER's single-neuron experts at each slot's pre-activation, with its derivative: shared by both
 * expert paths ({@link PeerExperts}, {@link DenseExperts}) so that they activate identically.
 */
final class SlotActivation {

    private static final double SQRT_HALF = Math.sqrt(0.5);
    private static final double INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

    private SlotActivation() {
    }

    /** @throws IllegalArgumentException unless {@code activation} is GELU or RELU */
    static void check(HiddenActivation activation, String owner) {
        if (activation != HiddenActivation.GELU && activation != HiddenActivation.RELU) {
            throw new IllegalArgumentException(owner + ": GELU or RELU, got " + activation);
        }
    }

    /**
     * The activation and its derivative at {@code pre}: {@code [act, act']}. GELU is exact, {@code x Phi(x)} with
     * {@code Phi'(x) = phi(x)}: for DOUBLE tables with ND4J's erf in one bulk call (the graph's GELU uses the same op),
     * for FLOAT tables with {@link FloatCdf#phi} in Java, as the dense feed-forward block's float GELU.
     *
     * @param tables the expert tables' data type
     */
    static double[][] of(double[] pre, HiddenActivation activation, DataType tables) {
        double[] act = new double[pre.length];
        double[] slope = new double[pre.length];
        apply(activation, tables, pre, 0, pre.length, act, slope, null);
        return new double[][] {act, slope};
    }

    /**
     * {@link #of} for the slots {@code [from, to)}, written into {@code act} and {@code slope}.
     *
     * @param erfScratch where ND4J's bulk erf runs for DOUBLE tables: a DOUBLE array of {@code to - from} elements
     *                   reused from call to call (a new native array costs page faults, more than the erf), or null
     *                   for a new one
     */
    static void apply(HiddenActivation activation, DataType tables, double[] pre, int from, int to, double[] act,
                      double[] slope, INDArray erfScratch) {
        if (activation == HiddenActivation.RELU) {
            for (int p = from; p < to; p++) {
                act[p] = Math.max(pre[p], 0);
                slope[p] = pre[p] > 0 ? 1 : 0;
            }
            return;
        }
        if (tables == DataType.FLOAT) {
            for (int p = from; p < to; p++) {
                gelu(pre, p, FloatCdf.phi((float) pre[p]), act, slope);
            }
            return;
        }
        double[] scaled = new double[to - from];
        for (int p = from; p < to; p++) {
            scaled[p - from] = pre[p] * SQRT_HALF;
        }
        INDArray erf = erfScratch == null ? HostArrays.fromDoubles(scaled, DataType.DOUBLE, scaled.length)
                : HostArrays.copyInto(scaled, erfScratch);
        Nd4j.exec(new Erf(erf, erf));
        double[] erfs = HostArrays.toDoubles(erf);
        for (int p = from; p < to; p++) {
            gelu(pre, p, 0.5 * (1 + erfs[p - from]), act, slope);
        }
    }

    /** GELU at slot p from {@code cdf = Phi(pre[p])}: {@code x Phi(x)} and its slope {@code Phi(x) + x phi(x)}. */
    private static void gelu(double[] pre, int p, double cdf, double[] act, double[] slope) {
        act[p] = pre[p] * cdf;
        slope[p] = cdf + pre[p] * INV_SQRT_2PI * Math.exp(-0.5 * pre[p] * pre[p]);
    }
}
