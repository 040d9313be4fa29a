package io.github.dl4jmoe.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class RowGradientsTest {

    @Test
    void denseSumAddsScaledSharedVectorsIntoTheirRows() {
        int[] rows = {2, 0, 2, 1};                   // contributions 0,1 share vector 0; 2,3 share vector 1
        double[] coefficients = {1.0, -2.0, 0.5, 3.0};
        double[] vectors = {1, 2, 10, 20};           // [2, width 2]
        double[] sum = new RowGradients(rows, coefficients, vectors, 2, 2).denseSum(3);
        double[] expected = {
            -2 * 1, -2 * 2,                          // row 0: contribution 1
            3 * 10, 3 * 20,                          // row 1: contribution 3
            1 * 1 + 0.5 * 10, 1 * 2 + 0.5 * 20};     // row 2: contributions 0 and 2
        assertArrayEquals(expected, sum, 1e-15);
    }

    @Test
    void inconsistentLengthsAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new RowGradients(new int[] {0, 1, 2}, new double[3], new double[4], 2, 2));
        assertTrue(e.getMessage().contains("in groups of 2"), e.getMessage());
    }
}
