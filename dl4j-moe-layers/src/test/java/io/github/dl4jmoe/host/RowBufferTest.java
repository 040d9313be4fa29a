package io.github.dl4jmoe.host;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** The raw (CPU) and portable row paths read and write the same elements, on a view inside a larger vector too. */
class RowBufferTest {

    @AfterEach
    void defaultPath() {
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void rawAndPortableRowsAgreeOnAParameterLikeView(DataType type) {
        INDArray flat = Nd4j.rand(type, 1, 7 + 5 * 3);               // a table [5, 3] after 7 other parameters
        INDArray table = flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(7, 7 + 15)).reshape('c', 5, 3);
        RowBuffer raw = new RowBuffer(table);
        RowBuffer portable = new PortableRows(table);
        for (int r = 0; r < 5; r++) {
            double[] a = new double[3];
            double[] b = new double[3];
            raw.get(r, a);
            portable.get(r, b);
            assertArrayEquals(table.getRow(r).toDoubleVector(), a, 0.0, "raw row " + r);
            assertArrayEquals(a, b, 0.0, "portable row " + r);
        }
        raw.put(4, new double[] {1, 2, 3});
        portable.put(1, new double[] {4, 5, 6});
        assertArrayEquals(new double[] {1, 2, 3}, table.getRow(4).toDoubleVector(), 0.0);
        assertArrayEquals(new double[] {4, 5, 6}, table.getRow(1).toDoubleVector(), 0.0);
        assertEquals(flat.getDouble(0, 7 + 4 * 3 + 2), 3.0, 0.0, "written through to the parameter vector");
    }

    @Test
    void rawAndPortableFloatRowsAgreeOnAViewAndRefuseWhatWouldOverrun() {
        INDArray flat = Nd4j.rand(DataType.FLOAT, 1, 7 + 5 * 3);
        INDArray table = flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(7, 7 + 15)).reshape('c', 5, 3);
        for (RowBuffer rows : new RowBuffer[] {new RowBuffer(table), new PortableRows(table)}) {
            String path = rows.getClass().getSimpleName();
            float[] row = new float[3];
            rows.getFloats(2, row);
            assertArrayEquals(table.getRow(2).toFloatVector(), row, 0f, path);
            rows.putFloats(3, new float[] {7, 8, 9});
            assertArrayEquals(new float[] {7, 8, 9}, table.getRow(3).toFloatVector(), 0f, path);
            IllegalArgumentException shortRow = assertThrows(IllegalArgumentException.class,
                    () -> rows.getFloats(0, new float[2]));
            assertEquals("RowBuffer: a row of 3 values, got an array of 2", shortRow.getMessage(), path);
            assertThrows(IllegalArgumentException.class, () -> rows.putFloats(0, new float[2]), path);
        }
        RowBuffer doubles = RowBuffer.of(Nd4j.rand(DataType.DOUBLE, 2, 3));
        IllegalStateException type = assertThrows(IllegalStateException.class,
                () -> doubles.getFloats(0, new float[3]));
        assertEquals("RowBuffer: float rows of a DOUBLE array", type.getMessage());
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void rawAndPortableElementsAgreeOnAParameterLikeView(DataType type) {
        INDArray flat = Nd4j.rand(type, 1, 7 + 5 * 3);
        INDArray table = flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(7, 7 + 15)).reshape('c', 5, 3);
        RowBuffer raw = new RowBuffer(table);
        RowBuffer portable = new PortableRows(table);
        for (int r = 0; r < 5; r++) {
            for (int c = 0; c < 3; c++) {
                assertEquals(table.getDouble(r, c), raw.get(r, c), 0.0, "raw " + r + ", " + c);
                assertEquals(table.getDouble(r, c), portable.get(r, c), 0.0, "portable " + r + ", " + c);
            }
        }
        raw.put(4, 2, 0.25);
        portable.put(0, 1, -0.5);
        assertEquals(0.25, table.getDouble(4, 2), 0.0);
        assertEquals(-0.5, table.getDouble(0, 1), 0.0);
        assertEquals(0.25, flat.getDouble(0, 7 + 4 * 3 + 2), 0.0, "written through to the parameter vector");
        for (RowBuffer rows : new RowBuffer[] {raw, portable}) {
            assertThrows(IndexOutOfBoundsException.class, () -> rows.get(0, 3));
            assertThrows(IndexOutOfBoundsException.class, () -> rows.put(5, 0, 1.0));
        }
    }

    /** A one-row view of a larger array, which M2.1's {@code Shape.hasDefaultStridesForShape} rejects. */
    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void aOneRowViewIsRowMajor(DataType type) {
        INDArray block = Nd4j.rand(type, 4, 6);
        INDArray firstRow = block.get(NDArrayIndex.interval(0, 1), NDArrayIndex.all());
        assertFalse(Shape.hasDefaultStridesForShape(firstRow), "M2.1 calls the view's strides non-default");
        double[] row = new double[6];
        RowBuffer.of(firstRow).get(0, row);
        assertArrayEquals(block.getRow(0).toDoubleVector(), row, 0.0);
        INDArray columns = block.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 3));
        assertThrows(IllegalArgumentException.class, () -> RowBuffer.of(columns));
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void thePropertyForcesThePortablePathOnTheCpu(DataType type) {
        INDArray table = Nd4j.rand(type, 4, 2);
        assertEquals(RowBuffer.class, RowBuffer.of(table).getClass());
        System.setProperty(RowBuffer.FORCE_PORTABLE, "true");
        assertTrue(RowBuffer.of(table) instanceof PortableRows);
        assertThrows(IndexOutOfBoundsException.class, () -> RowBuffer.of(table).get(4, new double[2]));
    }
}
