package io.github.dl4jmoe.experts;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;

class SparseRowUpdaterTest {

    private static final int[] ROWS = {3, 0, 3, 7, 3, 0};        // duplicates on purpose; rows 1, 2, 4-6 untouched
    private static final long MINIBATCH = 4;

    /** The table as a view into a larger vector, as DL4J hands parameters to layers. */
    private static INDArray tableView(DataType type) {
        INDArray flat = Nd4j.rand(type, 1, 5 + 8 * 3);
        return flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 5 + 24)).reshape('c', 8, 3);
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
        new SparseRowUpdater().apply(table, RowGradients.of(ROWS, grads), new Sgd(0.5), 0, 0, MINIBATCH);
        double[][] sums = gradientSums(grads);
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
            updater.apply(table, RowGradients.of(ROWS, grads), adam, step, 0, MINIBATCH);
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
}
