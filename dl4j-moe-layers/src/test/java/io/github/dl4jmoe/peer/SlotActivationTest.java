package io.github.dl4jmoe.peer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.dl4jmoe.ops.HiddenActivation;
import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * {@link SlotActivation}: GELU with ND4J's erf (DOUBLE tables) against {@code x Phi(x)} from Commons Math's erf, the
 * FLOAT tables' Java erf against the DOUBLE path to float precision, RELU alike for both, and a slot range.
 */
class SlotActivationTest {

    private static double[] grid() {
        double[] x = new double[321];
        for (int i = 0; i < x.length; i++) {
            x[i] = -8 + i * 0.05;
        }
        return x;
    }

    @Test
    void doubleGeluIsXTimesPhiWithItsDerivative() {
        double[] x = grid();
        double[][] out = SlotActivation.of(x, HiddenActivation.GELU, DataType.DOUBLE);
        for (int i = 0; i < x.length; i++) {
            double phi = 0.5 * (1 + Erf.erf(x[i] / Math.sqrt(2)));
            double density = Math.exp(-0.5 * x[i] * x[i]) / Math.sqrt(2 * Math.PI);
            assertEquals(x[i] * phi, out[0][i], 1e-12, "act at " + x[i]);
            assertEquals(phi + x[i] * density, out[1][i], 1e-12, "slope at " + x[i]);
        }
    }

    @Test
    void floatTablesAgreeWithTheDoublePathToFloatPrecision() {
        double[] x = grid();
        double[][] exact = SlotActivation.of(x, HiddenActivation.GELU, DataType.DOUBLE);
        double[][] floats = SlotActivation.of(x, HiddenActivation.GELU, DataType.FLOAT);
        for (int i = 0; i < x.length; i++) {
            double scale = Math.max(1, Math.abs(x[i]));
            assertEquals(exact[0][i], floats[0][i], 1e-6 * scale, "act at " + x[i]);
            assertEquals(exact[1][i], floats[1][i], 1e-6 * scale, "slope at " + x[i]);
        }
    }

    @Test
    void reluIsTheSameForBothTypesAndOnlyTheRangeIsWritten() {
        double[] x = {-2, -0.0, 0, 0.5, 3};
        for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            double[] act = {7, 7, 7, 7, 7};
            double[] slope = {7, 7, 7, 7, 7};
            SlotActivation.apply(HiddenActivation.RELU, type, x, 1, 4, act, slope, null);
            assertArrayEquals(new double[] {7, 0, 0, 0.5, 7}, act, 0.0, type.toString());
            assertArrayEquals(new double[] {7, 0, 0, 1, 7}, slope, 0.0, type.toString());
        }
    }

    @Test
    void rejectsOtherActivations() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SlotActivation.check(HiddenActivation.SILU, "PeerLayer"));
        assertEquals("PeerLayer: GELU or RELU, got SILU", e.getMessage());
    }
}
