package io.github.dl4jmoe.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jmoe.host.RowBlocks.Block;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@link RowBlocks#gemm} on blocks inside larger arrays, on the CPU path (BLAS on addresses) and the portable path
 * ({@code Nd4j.gemm} on views), against a product computed element by element.
 */
class RowBlocksTest {

    @AfterEach
    void defaultPath() {
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void bothPathsComputeTheProductOfBlocksInsideLargerArrays(DataType type) {
        Nd4j.getRandom().setSeed(7);
        double tolerance = type == DataType.DOUBLE ? 1e-12 : 1e-5;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                for (double beta : new double[] {0, 1}) {
                    INDArray a = Nd4j.randn(type, 11, ta ? 3 : 4);          // block: rows 2..6 (or 2..5)
                    INDArray table = Nd4j.randn(type, 3, tb ? 5 : 4, tb ? 4 : 5);   // slice 1
                    INDArray[] out = new INDArray[2];
                    for (int path = 0; path < 2; path++) {
                        System.setProperty(RowBuffer.FORCE_PORTABLE, String.valueOf(path == 1));
                        Nd4j.getRandom().setSeed(11);
                        out[path] = Nd4j.randn(type, 9, 5);
                        RowBlocks.gemm(new Block(a, 2, ta ? 4 : 3), ta, Block.slice(table, 1), tb,
                                new Block(out[path], 4, 3), 0.5, beta);
                    }
                    Nd4j.getRandom().setSeed(11);
                    INDArray expected = Nd4j.randn(type, 9, 5);
                    for (int i = 0; i < 3; i++) {
                        for (int j = 0; j < 5; j++) {
                            double sum = 0;
                            for (int k = 0; k < 4; k++) {
                                double x = ta ? a.getDouble(2 + k, i) : a.getDouble(2 + i, k);
                                double y = tb ? table.getDouble(1, j, k) : table.getDouble(1, k, j);
                                sum += x * y;
                            }
                            expected.putScalar(4 + i, j, 0.5 * sum + beta * expected.getDouble(4 + i, j));
                        }
                    }
                    String what = "ta=" + ta + " tb=" + tb + " beta=" + beta;
                    assertTrue(expected.equalsWithEps(out[0], tolerance), "CPU path " + what + ": " + out[0]);
                    assertTrue(expected.equalsWithEps(out[1], tolerance), "portable path " + what + ": " + out[1]);
                }
            }
        }
    }

    @Test
    void anEmptyBlockLeavesTheOutputAlone() {
        for (String portable : new String[] {"false", "true"}) {
            System.setProperty(RowBuffer.FORCE_PORTABLE, portable);
            INDArray out = Nd4j.ones(DataType.DOUBLE, 2, 3);
            RowBlocks.gemm(new Block(Nd4j.ones(DataType.DOUBLE, 4, 2), 0, 0), false,
                    new Block(Nd4j.ones(DataType.DOUBLE, 2, 3), 0, 2), false, new Block(out, 0, 0), 1, 0);
            assertEquals(6.0, out.sumNumber().doubleValue(), portable);
        }
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void zeroClearsOnlyTheBlockAlsoInAViewOfALargerBuffer(DataType type) {
        for (String portable : new String[] {"false", "true"}) {
            System.setProperty(RowBuffer.FORCE_PORTABLE, portable);
            INDArray buffer = Nd4j.ones(type, 1, 2 + 3 * 4 * 5);
            INDArray table = buffer.get(NDArrayIndex.point(0), NDArrayIndex.interval(2, 2 + 60))
                    .reshape('c', 3, 4, 5);                                   // a view, as a parameter view is
            RowBlocks.zero(Block.slice(table, 1));
            for (int e = 0; e < 3; e++) {
                assertEquals(e == 1 ? 0.0 : 20.0, table.slice(e).sumNumber().doubleValue(), "slice " + e + ", "
                        + portable);
            }
            assertEquals(2 + 40.0, buffer.sumNumber().doubleValue(), "the elements before the view, " + portable);
        }
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE", "INT"})
    void zeroOfAnArrayClearsExactlyItsElements(DataType type) {
        for (String portable : new String[] {"false", "true"}) {
            System.setProperty(RowBuffer.FORCE_PORTABLE, portable);
            INDArray buffer = Nd4j.ones(type, 1, 2 + 60 + 3);
            INDArray table = buffer.get(NDArrayIndex.point(0), NDArrayIndex.interval(2, 62)).reshape('c', 3, 4, 5);
            RowBlocks.zero(table);                                             // a row-major view: one memset
            assertEquals(5.0, buffer.sumNumber().doubleValue(), "only the view's 60 elements, " + portable);
            INDArray matrix = Nd4j.ones(type, 4, 6);
            INDArray columns = matrix.get(NDArrayIndex.all(), NDArrayIndex.interval(1, 3));    // not row-major
            RowBlocks.zero(columns);
            assertEquals(16.0, matrix.sumNumber().doubleValue(), "two columns of four rows, " + portable);
            INDArray transposed = Nd4j.ones(type, 3, 2).transpose();
            RowBlocks.zero(transposed);
            assertEquals(0.0, transposed.sumNumber().doubleValue(), "an f-ordered view, " + portable);
            INDArray vector = Nd4j.ones(type, 7);
            RowBlocks.zero(vector);
            assertEquals(0.0, vector.sumNumber().doubleValue(), "rank 1, " + portable);
            RowBlocks.zero(Nd4j.create(type, 0, 4));                                 // empty: nothing to do
        }
    }

    @Test
    void mistakesAreNamed() {
        INDArray a = Nd4j.ones(DataType.FLOAT, 4, 3);
        IndexOutOfBoundsException range = assertThrows(IndexOutOfBoundsException.class, () -> new Block(a, 2, 3));
        assertEquals("RowBlocks: rows [2, 5) of 4", range.getMessage());
        IllegalArgumentException order = assertThrows(IllegalArgumentException.class,
                () -> new Block(Nd4j.ones(DataType.FLOAT, 3, 4).transpose(), 0, 1));
        assertTrue(order.getMessage().startsWith("RowBlocks: need a row-major matrix or table"), order.getMessage());
        IllegalArgumentException shapes = assertThrows(IllegalArgumentException.class, () -> RowBlocks.gemm(
                new Block(a, 0, 2), false, new Block(a, 0, 2), false, new Block(a, 0, 2), 1, 0));
        assertEquals("RowBlocks: cannot multiply [2, 3] by [2, 3] into [2, 3]", shapes.getMessage());
        IllegalArgumentException types = assertThrows(IllegalArgumentException.class, () -> RowBlocks.gemm(
                new Block(a, 0, 2), false, new Block(Nd4j.ones(DataType.DOUBLE, 3, 3), 0, 3), false,
                new Block(a, 0, 2), 1, 0));
        assertEquals("RowBlocks: mixed data types FLOAT, DOUBLE, FLOAT", types.getMessage());
    }
}
