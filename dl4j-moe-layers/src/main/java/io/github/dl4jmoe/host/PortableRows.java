package io.github.dl4jmoe.host;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link RowBuffer}'s portable path: rows read and written element by element through the array's {@code DataBuffer},
 * which every ND4J backend implements (on CUDA it synchronises host and device copies). Slower than the CPU path's raw
 * copies, and chosen by {@link RowBuffer#of} wherever those are not available.
 */
public final class PortableRows extends RowBuffer {

    private final DataBuffer data;
    private final long first;
    private final boolean isFloat;

    public PortableRows(INDArray array) {
        super(array, false);
        this.data = array.data();
        this.first = firstElement(array);
        this.isFloat = array.dataType() == DataType.FLOAT;
    }

    @Override
    public void get(long r, double[] out) {
        long at = start(r);
        for (int j = 0; j < width(); j++) {
            out[j] = isFloat ? data.getFloat(at + j) : data.getDouble(at + j);
        }
    }

    @Override
    public void put(long r, double[] row) {
        long at = start(r);
        for (int j = 0; j < width(); j++) {
            if (isFloat) {
                data.put(at + j, (float) row[j]);
            } else {
                data.put(at + j, row[j]);
            }
        }
    }

    @Override
    public void getFloats(long r, float[] out) {
        requireFloats(out);
        long at = start(r);
        for (int j = 0; j < width(); j++) {
            out[j] = data.getFloat(at + j);
        }
    }

    @Override
    public void putFloats(long r, float[] row) {
        requireFloats(row);
        long at = start(r);
        for (int j = 0; j < width(); j++) {
            data.put(at + j, row[j]);
        }
    }

    @Override
    public double get(long r, int column) {
        long at = start(r) + checked(column);
        return isFloat ? data.getFloat(at) : data.getDouble(at);
    }

    @Override
    public void put(long r, int column, double value) {
        long at = start(r) + checked(column);
        if (isFloat) {
            data.put(at, (float) value);
        } else {
            data.put(at, value);
        }
    }

    private int checked(int column) {
        if (column < 0 || column >= width()) {
            throw new IndexOutOfBoundsException("RowBuffer: column " + column + " of " + width());
        }
        return column;
    }

    private long start(long r) {
        if (r < 0 || r >= rows()) {
            throw new IndexOutOfBoundsException("RowBuffer: row " + r + " of " + rows());
        }
        return first + r * width();
    }
}
