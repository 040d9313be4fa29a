package io.github.dl4jmoe.host;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * {@link RowMath} against the same sums written out element by element, at offset 0 (the loops the JIT vectorises)
 * and at other offsets, on rows of odd length (a partial last group of four).
 */
class RowMathTest {

    private static final int WIDTH = 11;

    @Test
    void dotOfARowAtAnyOffsetIsTheSumOfProducts() {
        Random random = new Random(3);
        double[] a = values(random, 3 * WIDTH);
        double[] b = values(random, WIDTH);
        for (int from : new int[] {0, 5, 2 * WIDTH}) {
            double expected = 0;
            for (int j = 0; j < WIDTH; j++) {
                expected += a[from + j] * b[j];
            }
            assertEquals(expected, RowMath.dot(a, from, b), 1e-12, "offset " + from);
        }
    }

    @Test
    void axpyAndAxpyThroughAddTheScaledRowAtItsOffsetAndNowhereElse() {
        Random random = new Random(5);
        double[] x = values(random, WIDTH);
        for (int from : new int[] {0, 4, 2 * WIDTH}) {
            double[] y = values(random, 3 * WIDTH);
            double[] expected = y.clone();
            for (int j = 0; j < WIDTH; j++) {
                expected[from + j] += -1.5 * x[j];
            }
            double[] viaScratch = y.clone();
            RowMath.axpy(-1.5, x, y, from);
            assertArrayEquals(expected, y, 0, "offset " + from);
            RowMath.axpyThrough(-1.5, x, viaScratch, from, new double[WIDTH + 2]);
            assertArrayEquals(expected, viaScratch, 0, "through scratch, offset " + from);
        }
    }

    @Test
    void scaleWritesTheScaledRowOfItsOffset() {
        Random random = new Random(7);
        double[] x = values(random, 3 * WIDTH);
        for (int from : new int[] {0, 4, 2 * WIDTH}) {
            double[] out = new double[WIDTH];
            double[] expected = new double[WIDTH];
            for (int j = 0; j < WIDTH; j++) {
                expected[j] = 0.25 * x[from + j];
            }
            RowMath.scale(0.25, x, from, out);
            assertArrayEquals(expected, out, 0, "offset " + from);
        }
    }

    private static double[] values(Random random, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = random.nextGaussian();
        }
        return v;
    }
}
