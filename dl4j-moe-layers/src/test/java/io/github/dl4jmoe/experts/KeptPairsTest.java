package io.github.dl4jmoe.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import io.github.dl4jmoe.host.RowBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link KeptPairs}' combine, its backward pass and the row sums against loops over the pairs in expert order, in
 * double precision, on the CPU path and the portable path, with tokens that kept no pair and two output groups;
 * 700 tokens take the threaded path, 3 the single-threaded one.
 */
class KeptPairsTest {

    private static final int EXPERTS = 6;
    private static final int PER_GROUP = 3;
    private static final int WIDTH = 4;
    private static final int D = 5;

    @AfterEach
    void defaultPath() {
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
    }

    @ParameterizedTest
    @ValueSource(ints = {3, 700})
    void matchesLoopsOverThePairsOnBothPaths(int n) {
        Random random = new Random(n);
        List<List<Integer>> tokensOf = new ArrayList<>();
        for (int e = 0; e < EXPERTS; e++) {
            List<Integer> tokens = new ArrayList<>();
            for (int t = 1; t < n; t++) {                                      // token 0 keeps no pair
                if (random.nextInt(3) == 0) {
                    tokens.add(t);
                }
            }
            tokensOf.add(tokens);
        }
        int[] starts = new int[EXPERTS + 1];
        for (int e = 0; e < EXPERTS; e++) {
            starts[e + 1] = starts[e] + tokensOf.get(e).size();
        }
        int[] tokens = tokensOf.stream().flatMap(List::stream).mapToInt(Integer::intValue).toArray();
        int rows = tokens.length;
        double[] gates = random.doubles((long) n * EXPERTS).toArray();
        Nd4j.getRandom().setSeed(n);
        INDArray out = Nd4j.randn(DataType.DOUBLE, rows, WIDTH);
        INDArray dy = Nd4j.randn(DataType.DOUBLE, n, 2 * WIDTH);
        INDArray dRows = Nd4j.randn(DataType.DOUBLE, rows, D);
        INDArray start = Nd4j.randn(DataType.DOUBLE, n, D);

        double[][] y = new double[n][2 * WIDTH];
        double[][] dOut = new double[rows][WIDTH];
        double[] dGates = new double[n * EXPERTS];
        double[][] sums = start.toDoubleMatrix();
        for (int e = 0; e < EXPERTS; e++) {
            int column = e / PER_GROUP * WIDTH;
            for (int r = starts[e]; r < starts[e + 1]; r++) {
                int t = tokens[r];
                for (int c = 0; c < WIDTH; c++) {
                    y[t][column + c] += gates[t * EXPERTS + e] * out.getDouble(r, c);
                    dOut[r][c] = gates[t * EXPERTS + e] * dy.getDouble(t, column + c);
                    dGates[t * EXPERTS + e] += dy.getDouble(t, column + c) * out.getDouble(r, c);
                }
                for (int c = 0; c < D; c++) {
                    sums[t][c] += dRows.getDouble(r, c);
                }
            }
        }

        for (String portable : new String[] {"false", "true"}) {
            System.setProperty(RowBuffer.FORCE_PORTABLE, portable);
            KeptPairs pairs = new KeptPairs(tokens, starts, n);
            assertEquals(rows, pairs.size());
            INDArray routed = Nd4j.zeros(DataType.DOUBLE, n, 2 * WIDTH);
            pairs.combine(out, gates, PER_GROUP, routed);
            INDArray dOutRows = Nd4j.zeros(DataType.DOUBLE, rows, WIDTH);
            double[] dGatesOut = new double[n * EXPERTS];
            pairs.backward(dy, out, gates, PER_GROUP, dOutRows, dGatesOut);
            INDArray target = start.dup();
            pairs.addRows(dRows, target);
            for (int t = 0; t < n; t++) {
                assertArrayEquals(y[t], routed.getRow(t).toDoubleVector(), 1e-12, "combine, token " + t);
                assertArrayEquals(sums[t], target.getRow(t).toDoubleVector(), 1e-12, "row sums, token " + t);
            }
            for (int r = 0; r < rows; r++) {
                assertArrayEquals(dOut[r], dOutRows.getRow(r).toDoubleVector(), 1e-12, "dOut, row " + r);
            }
            assertArrayEquals(dGates, dGatesOut, 1e-12, "gate gradients, portable=" + portable);
        }
    }
}
