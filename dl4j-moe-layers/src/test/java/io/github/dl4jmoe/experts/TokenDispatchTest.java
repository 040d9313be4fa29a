package io.github.dl4jmoe.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Token dispatch against a plain-Java reference: slots in token order, capacity, which pairs drop, the way back. */
class TokenDispatchTest {

    private static final int D = 3;

    @BeforeEach
    void doublePrecision() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    /** What one dispatch computed. */
    private record Dispatched(double[][][] buffer, double[][] combined, double dropped, double capacity) {
    }

    /** Plans a dispatch of {@code x} and combines the buffer itself (every expert the identity). */
    private static Dispatched dispatch(double[][] x, double[][] selected, double[][] gates, double capacityFactor) {
        SameDiff sd = SameDiff.create();
        int experts = selected[0].length;
        SDVariable xs = sd.constant("x", Nd4j.createFromArray(x));
        TokenDispatch plan = TokenDispatch.plan(sd, xs, D, sd.constant(Nd4j.createFromArray(selected)),
                sd.constant(Nd4j.createFromArray(gates)), experts, capacityFactor);
        SDVariable combined = plan.combine(sd.identity(plan.dispatched()), D);
        Map<String, INDArray> out = sd.output(Map.of(), plan.dispatched().name(), combined.name(),
                plan.droppedPairs().name(), plan.capacity().name());
        INDArray buffer = out.get(plan.dispatched().name());
        double[][][] slots = new double[experts][][];
        for (int e = 0; e < experts; e++) {
            slots[e] = buffer.slice(e).toDoubleMatrix();
        }
        return new Dispatched(slots, out.get(combined.name()).toDoubleMatrix(),
                out.get(plan.droppedPairs().name()).getDouble(0), out.get(plan.capacity().name()).getDouble(0));
    }

    /**
     * The rule written out: pair (t, e) takes slot e's next free position in token order and is kept when that
     * position is below the capacity; a token's output is the gate-weighted sum of its kept pairs' rows.
     */
    private static double[][] referenceCombined(double[][] x, double[][] selected, double[][] gates, int capacity) {
        int experts = selected[0].length;
        int[] used = new int[experts];
        double[][] out = new double[x.length][D];
        for (int t = 0; t < x.length; t++) {
            for (int e = 0; e < experts; e++) {
                if (selected[t][e] == 0) {
                    continue;
                }
                if (used[e]++ < capacity) {
                    for (int c = 0; c < D; c++) {
                        out[t][c] += gates[t][e] * x[t][c];
                    }
                }
            }
        }
        return out;
    }

    private static double[][] tokens(int n) {
        double[][] x = new double[n][D];
        for (int t = 0; t < n; t++) {
            for (int c = 0; c < D; c++) {
                x[t][c] = t + 1 + 0.1 * c;                     // distinct rows: token t is recognisable in a slot
            }
        }
        return x;
    }

    @Test
    void droplessGroupsTokensByExpertInTokenOrderAndDropsNothing() {
        double[][] selected = {{1, 0, 1}, {0, 1, 1}, {1, 0, 0}, {0, 0, 1}};          // loads 2, 1, 3
        double[][] gates = {{0.6, 0, 0.4}, {0, 0.3, 0.2}, {1, 0, 0}, {0, 0, 0.9}};
        double[][] x = tokens(4);
        Dispatched d = dispatch(x, selected, gates, TokenDispatch.DROPLESS);
        assertEquals(3, d.capacity(), "dropless capacity is the largest load");
        assertEquals(0, d.dropped());
        assertArrayEquals(x[0], d.buffer()[0][0], "expert 0, slot 0: token 0");
        assertArrayEquals(x[2], d.buffer()[0][1], "expert 0, slot 1: token 2");
        assertArrayEquals(x[1], d.buffer()[1][0]);
        assertArrayEquals(x[0], d.buffer()[2][0]);
        assertArrayEquals(x[1], d.buffer()[2][1]);
        assertArrayEquals(x[3], d.buffer()[2][2]);
        double[][] expected = referenceCombined(x, selected, gates, 3);
        for (int t = 0; t < x.length; t++) {
            assertArrayEquals(expected[t], d.combined()[t], 1e-12, "token " + t);
        }
    }

    @Test
    void aCapacityFactorKeepsTheEarliestTokensOfEachExpertAndCountsTheRest() {
        // 6 tokens, every one to expert 0 and one to expert 1: 12 pairs, E = 2, factor 0.5 -> capacity 3
        double[][] selected = new double[6][];
        double[][] gates = new double[6][];
        for (int t = 0; t < 6; t++) {
            selected[t] = new double[] {1, 1};
            gates[t] = new double[] {0.7, 0.3};
        }
        double[][] x = tokens(6);
        Dispatched d = dispatch(x, selected, gates, 0.5);
        assertEquals(3, d.capacity(), "ceil(0.5 * 12 pairs / 2 experts)");
        assertEquals(6, d.dropped(), "three pairs beyond capacity for each expert");
        for (int c = 0; c < 3; c++) {
            assertArrayEquals(x[c], d.buffer()[0][c], "kept in token order");
        }
        double[][] expected = referenceCombined(x, selected, gates, 3);
        for (int t = 0; t < x.length; t++) {
            assertArrayEquals(expected[t], d.combined()[t], 1e-12, "token " + t);
        }
        assertArrayEquals(new double[D], d.combined()[5], 0.0, "a token whose every pair dropped gets zeros");
    }

    @Test
    void capacityIsAtLeastOneAndMatchesTheReferenceOnRandomRouting() {
        Random random = new Random(5);
        for (double factor : new double[] {0.01, 0.8, 1.25, TokenDispatch.DROPLESS}) {
            int n = 17;
            int experts = 4;
            double[][] selected = new double[n][experts];
            double[][] gates = new double[n][experts];
            int pairs = 0;
            int[] load = new int[experts];
            for (int t = 0; t < n; t++) {
                for (int e = 0; e < experts; e++) {
                    if (random.nextDouble() < 0.45) {
                        selected[t][e] = 1;
                        gates[t][e] = random.nextDouble();
                        pairs++;
                        load[e]++;
                    }
                }
            }
            double[][] x = tokens(n);
            Dispatched d = dispatch(x, selected, gates, factor);
            int maxLoad = java.util.Arrays.stream(load).max().orElse(0);
            int capacity = factor == TokenDispatch.DROPLESS ? maxLoad
                    : (int) Math.max(1, Math.ceil(factor * pairs / experts));
            assertEquals(capacity, d.capacity(), "factor " + factor);
            int dropped = 0;
            for (int l : load) {
                dropped += Math.max(0, l - capacity);
            }
            assertEquals(dropped, d.dropped(), "factor " + factor);
            double[][] expected = referenceCombined(x, selected, gates, capacity);
            for (int t = 0; t < n; t++) {
                assertArrayEquals(expected[t], d.combined()[t], 1e-12, "factor " + factor + ", token " + t);
            }
        }
    }
}
