package io.github.dl4jmoe.experts;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;

/**
 * Row access to a row-major {@code [rows, width]} FLOAT or DOUBLE array (a view into a parameter vector included)
 * through a native pointer: bulk row copies, no per-element ND4J calls, and no 2 GiB limit (an NIO view of a PEER
 * parameter vector at N = 1,048,576 would be larger). Hold the array itself while using this: the pointer does not
 * keep its INDArray alive. One instance per thread (the pointer's position is state).
 */
final class RowBuffer {

    private final FloatPointer floats;
    private final DoublePointer doubles;
    private final long offset;
    private final int width;
    private final float[] floatRow;

    RowBuffer(INDArray array) {
        if (array.rank() != 2 || array.ordering() != 'c' || !Shape.hasDefaultStridesForShape(array)) {
            throw new IllegalArgumentException("RowBuffer: need a row-major [rows, width] array, got "
                    + array.shapeInfoToString());
        }
        this.width = (int) array.size(1);
        // addressPointer() already points at the buffer's own offset; the array may start further in
        this.offset = array.offset() - array.data().offset();
        if (array.dataType() == DataType.FLOAT) {
            floats = new FloatPointer(array.data().addressPointer());
            doubles = null;
            floatRow = new float[width];
        } else if (array.dataType() == DataType.DOUBLE) {
            doubles = new DoublePointer(array.data().addressPointer());
            floats = null;
            floatRow = null;
        } else {
            throw new IllegalArgumentException("RowBuffer: FLOAT or DOUBLE only, got " + array.dataType());
        }
    }

    /** Copies row {@code r} into {@code out}. */
    void get(long r, double[] out) {
        long at = offset + r * width;
        if (floats != null) {
            floats.position(at).get(floatRow, 0, width);
            for (int j = 0; j < width; j++) {
                out[j] = floatRow[j];
            }
        } else {
            doubles.position(at).get(out, 0, width);
        }
    }

    void put(long r, double[] row) {
        long at = offset + r * width;
        if (floats != null) {
            for (int j = 0; j < width; j++) {
                floatRow[j] = (float) row[j];
            }
            floats.position(at).put(floatRow, 0, width);
        } else {
            doubles.position(at).put(row, 0, width);
        }
    }
}
