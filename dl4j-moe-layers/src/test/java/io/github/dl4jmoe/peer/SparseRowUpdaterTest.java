package io.github.dl4jmoe.peer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;

class SparseRowUpdaterTest {

    private static final int[] ROWS = {3, 0, 3, 7, 3, 0};        // contributions; rows 1, 2, 4-6 untouched
    private static final long MINIBATCH = 4;

    /** The table as a view into a larger vector, as DL4J hands parameters to layers. */
    private static INDArray tableView(DataType type) {
        INDArray flat = Nd4j.rand(type, 1, 5 + 8 * 3);
        return flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 5 + 24)).reshape('c', 8, 3);
    }

    /** One step: each touched row once, with its summed gradient, from two threads holding disjoint rows. */
    private static void update(SparseRowUpdater updater, INDArray table, double[][] sums, IUpdater rule,
                               int iteration) {
        SparseRowUpdater.Step step = updater.step(table, rule, iteration, 0, MINIBATCH);
        java.util.stream.IntStream.of(0, 1).parallel().forEach(part -> {
            SparseRowUpdater.RowUpdate rows = step.open();
            for (int r : part == 0 ? new int[] {0, 3} : new int[] {7}) {
                rows.apply(r, sums[r]);
            }
        });
    }

    private static double[][] gradientSums(INDArray grads) {
        double[][] sums = new double[8][3];
        for (int i = 0; i < ROWS.length; i++) {
            for (int j = 0; j < 3; j++) {
                sums[ROWS[i]][j] += grads.getDouble(i, j);
            }
        }
        return sums;
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void sgdUpdatesTouchedRowsWithSummedGradientsOverTheMinibatch(DataType type) {
        INDArray table = tableView(type);
        INDArray before = table.dup();
        INDArray grads = Nd4j.rand(type, ROWS.length, 3);
        double[][] sums = gradientSums(grads);
        update(new SparseRowUpdater(), table, sums, new Sgd(0.5), 0);
        for (int r = 0; r < 8; r++) {
            for (int j = 0; j < 3; j++) {
                double expected = before.getDouble(r, j) - 0.5 * sums[r][j] / MINIBATCH;
                assertEquals(expected, table.getDouble(r, j), type == DataType.FLOAT ? 1e-6 : 1e-12, "row " + r);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void adamTwoStepsFollowTheLazyAdamRule(DataType type) {
        INDArray table = tableView(type);
        double[][] p = table.toDoubleMatrix();
        double[][] m = new double[8][3];
        double[][] v = new double[8][3];
        SparseRowUpdater updater = new SparseRowUpdater();
        Adam adam = new Adam(0.1, 0.9, 0.99, 1e-8);
        for (int step = 0; step < 2; step++) {
            INDArray grads = Nd4j.rand(type, ROWS.length, 3).subi(0.5);
            double[][] sums = gradientSums(grads);
            update(updater, table, sums, adam, step);
            double alpha = 0.1 * Math.sqrt(1 - Math.pow(0.99, step + 1)) / (1 - Math.pow(0.9, step + 1));
            for (int r : new int[] {0, 3, 7}) {
                for (int j = 0; j < 3; j++) {
                    double g = sums[r][j] / MINIBATCH;
                    m[r][j] = 0.9 * m[r][j] + 0.1 * g;
                    v[r][j] = 0.99 * v[r][j] + 0.01 * g * g;
                    p[r][j] -= alpha * m[r][j] / (Math.sqrt(v[r][j]) + 1e-8);
                }
            }
        }
        for (int r = 0; r < 8; r++) {
            for (int j = 0; j < 3; j++) {
                assertEquals(p[r][j], table.getDouble(r, j), type == DataType.FLOAT ? 1e-5 : 1e-12, "row " + r);
            }
        }
    }

    @org.junit.jupiter.api.Test
    void unsupportedUpdatersAndWrongWidthsAreRejected() {
        INDArray table = tableView(DataType.DOUBLE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new SparseRowUpdater().step(table, new org.nd4j.linalg.learning.config.RmsProp(), 0, 0, 1));
        assertTrue(e.getMessage().contains("support Adam, Sgd and NoOp, not RmsProp"), e.getMessage());
        SparseRowUpdater.RowUpdate rows = new SparseRowUpdater().step(table, new Sgd(0.1), 0, 0, 1).open();
        e = assertThrows(IllegalArgumentException.class, () -> rows.apply(2, new double[4]));
        assertTrue(e.getMessage().contains("gradient of width 4 for rows of width 3"), e.getMessage());
    }
}
