package io.github.dl4jmoe.host;

import java.lang.ref.Reference;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Bulk copies between INDArrays and Java arrays. On M2.1 {@code data().asDouble()} and
 * {@code Nd4j.createFromArray} go element by element through an indexer; these copy through one NIO buffer. FLOAT
 * arrays are converted in Java rather than by a cast in ND4J: each new off-heap array costs page faults, more than
 * the copy itself (see {@link ScratchArrays}).
 */
public final class HostArrays {

    private HostArrays() {
    }

    /** The elements of {@code a} in row-major order, as doubles. */
    public static double[] toDoubles(INDArray a) {
        double[] out = new double[Math.toIntExact(a.length())];
        INDArray whole = startsItsBuffer(a) && (a.dataType() == DataType.FLOAT || a.dataType() == DataType.DOUBLE)
                ? a : a.castTo(DataType.DOUBLE).dup('c');
        if (whole.dataType() == DataType.FLOAT) {
            float[] floats = new float[out.length];
            whole.data().asNioFloat().get(floats, 0, floats.length);
            for (int i = 0; i < out.length; i++) {
                out[i] = floats[i];
            }
        } else {
            whole.data().asNioDouble().get(out, 0, out.length);
        }
        Reference.reachabilityFence(whole);   // the NIO view does not keep the array alive
        return out;
    }

    /** A new array of {@code type} and {@code shape} holding {@code values} in row-major order. */
    public static INDArray fromDoubles(double[] values, DataType type, long... shape) {
        DataType direct = type == DataType.FLOAT ? DataType.FLOAT : DataType.DOUBLE;
        INDArray out = copyInto(values, Nd4j.createUninitialized(direct, shape));
        return direct == type ? out : out.castTo(type);
    }

    /** A new INT32 array of {@code shape} holding {@code values} in row-major order. */
    public static INDArray fromInts(int[] values, long... shape) {
        INDArray out = Nd4j.createUninitialized(DataType.INT32, shape);
        if (out.length() != values.length) {
            throw new IllegalArgumentException("HostArrays: " + values.length + " values for shape "
                    + java.util.Arrays.toString(shape));
        }
        out.data().asNioInt().put(values);
        return out;
    }

    /**
     * Writes {@code values} into {@code target} in row-major order and returns it; {@code target} is a FLOAT or DOUBLE
     * array at the start of its buffer (a new or {@link ScratchArrays} array, or the first rows of one).
     */
    public static INDArray copyInto(double[] values, INDArray target) {
        if (!startsItsBuffer(target) || (target.dataType() != DataType.FLOAT && target.dataType() != DataType.DOUBLE)) {
            throw new IllegalArgumentException("HostArrays: need a whole FLOAT or DOUBLE array, got "
                    + target.shapeInfoToString());
        }
        if (target.length() != values.length) {
            throw new IllegalArgumentException("HostArrays: " + values.length + " values for shape "
                    + java.util.Arrays.toString(target.shape()));
        }
        if (target.dataType() == DataType.FLOAT) {
            float[] floats = new float[values.length];
            for (int i = 0; i < values.length; i++) {
                floats[i] = (float) values[i];
            }
            target.data().asNioFloat().put(floats, 0, floats.length);
        } else {
            target.data().asNioDouble().put(values, 0, values.length);
        }
        return target;
    }

    /**
     * Whether {@code a} is the first {@code a.length()} elements of its buffer in row-major order (so the buffer can be
     * read and written directly): a whole array, or the first rows of one ({@link ScratchArrays#rows}).
     */
    private static boolean startsItsBuffer(INDArray a) {
        return a.offset() == 0 && a.data().offset() == 0 && a.ordering() == 'c' && isRowMajor(a)
                && a.data().length() >= a.length();
    }

    /** {@code a} itself when it is a c-order array with its elements in row-major order, else a c-order copy. */
    public static INDArray rowMajor(INDArray a) {
        return isCRowMajor(a) ? a : a.dup('c');
    }

    /** Whether {@code a} is in c order with its elements in row-major order ({@link #isRowMajor}). */
    public static boolean isCRowMajor(INDArray a) {
        return a.ordering() == 'c' && isRowMajor(a);
    }

    /**
     * Whether the elements lie in row-major order. Unlike {@code Shape.hasDefaultStridesForShape} this ignores the
     * stride of a dimension of size 1, which M2.1 sets to 1 for some shapes ({@code [6, 1, 1]} gets {@code [1, 1, 1]}).
     */
    public static boolean isRowMajor(INDArray a) {
        long expected = 1;
        for (int i = a.rank() - 1; i >= 0; i--) {
            if (a.size(i) != 1 && a.stride(i) != expected) {
                return false;
            }
            expected *= a.size(i);
        }
        return true;
    }
}
