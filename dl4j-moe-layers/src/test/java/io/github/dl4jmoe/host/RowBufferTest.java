package io.github.dl4jmoe.host;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
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
