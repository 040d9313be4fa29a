package io.github.dl4jmoe.experts;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;

/**
 * Row access to a row-major {@code [rows, width]} FLOAT or DOUBLE array (a view into a parameter vector included)
 * through its NIO buffer: bulk row copies, no per-element ND4J calls. Hold the array itself while using the buffer:
 * an NIO view does not keep its INDArray alive.
 */
final class RowBuffer {

    private final FloatBuffer floats;
    private final DoubleBuffer doubles;
    private final long offset;
    private final int width;
    private final float[] floatRow;

    RowBuffer(INDArray array) {
        if (array.rank() != 2 || array.ordering() != 'c' || !Shape.hasDefaultStridesForShape(array)) {
            throw new IllegalArgumentException("RowBuffer: need a row-major [rows, width] array, got "
                    + array.shapeInfoToString());
        }
        this.width = (int) array.size(1);
        this.offset = array.offset();
        if (array.dataType() == DataType.FLOAT) {
            floats = array.data().asNioFloat();
            doubles = null;
            floatRow = new float[width];
        } else if (array.dataType() == DataType.DOUBLE) {
            doubles = array.data().asNioDouble();
            floats = null;
            floatRow = null;
        } else {
            throw new IllegalArgumentException("RowBuffer: FLOAT or DOUBLE only, got " + array.dataType());
        }
    }

    /** Copies row {@code r} into {@code out}. Not thread safe for FLOAT buffers: one RowBuffer per thread. */
    void get(long r, double[] out) {
        int at = Math.toIntExact(offset + r * width);
        if (floats != null) {
            floats.get(at, floatRow, 0, width);
            for (int j = 0; j < width; j++) {
                out[j] = floatRow[j];
            }
        } else {
            doubles.get(at, out, 0, width);
        }
    }

    void put(long r, double[] row) {
        int at = Math.toIntExact(offset + r * width);
        if (floats != null) {
            for (int j = 0; j < width; j++) {
                floatRow[j] = (float) row[j];
            }
            floats.put(at, floatRow, 0, width);
        } else {
            doubles.put(at, row, 0, width);
        }
    }
}
