package io.github.dl4jmoe.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class RowSumsTest {

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void sumsRowsIntoTheirTargetsWithDuplicatesAndEmptyTargets(DataType type) {
        int rows = 1000;
        int width = 7;
        int outRows = 50;
        Random random = new Random(4);
        int[] target = random.ints(rows, 0, outRows - 5).toArray();   // the last five targets stay empty
        INDArray data = Nd4j.rand(type, rows, width).subi(0.5);
        INDArray sums = RowSums.sum(data, target, outRows);

        double[][] expected = new double[outRows][width];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < width; j++) {
                expected[target[i]][j] += data.getDouble(i, j);
            }
        }
        assertEquals(type, sums.dataType());
        for (int r = 0; r < outRows; r++) {
            assertArrayEquals(expected[r], sums.getRow(r).toDoubleVector(), type == DataType.FLOAT ? 1e-4 : 1e-12,
                    "row " + r);
        }
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void acceptsViewsOfLargerArrays(DataType type) {
        INDArray big = Nd4j.rand(type, 6, 4);
        INDArray view = big.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 5),
                org.nd4j.linalg.indexing.NDArrayIndex.all());
        INDArray sums = RowSums.sum(view, new int[] {1, 1, 0}, 2);
        assertArrayEquals(view.getRow(2).toDoubleVector(), sums.getRow(0).toDoubleVector(), 1e-6);
        assertArrayEquals(view.getRow(0).add(view.getRow(1)).toDoubleVector(), sums.getRow(1).toDoubleVector(), 1e-6);
    }
}
