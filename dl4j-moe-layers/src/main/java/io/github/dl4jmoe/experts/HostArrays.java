package io.github.dl4jmoe.experts;

import java.lang.ref.Reference;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Bulk copies between INDArrays and Java arrays. On M2.1 {@code data().asDouble()} and
 * {@code Nd4j.createFromArray} go element by element through an indexer; these copy through one NIO buffer.
 */
public final class HostArrays {

    private HostArrays() {
    }

    /** The elements of {@code a} in row-major order, as doubles. */
    public static double[] toDoubles(INDArray a) {
        double[] out = new double[Math.toIntExact(a.length())];
        INDArray doubles = a.castTo(DataType.DOUBLE).dup('c');
        doubles.data().asNioDouble().get(out);
        Reference.reachabilityFence(doubles);   // the NIO view does not keep the array alive
        return out;
    }

    /** A new array of {@code type} and {@code shape} holding {@code values} in row-major order. */
    public static INDArray fromDoubles(double[] values, DataType type, long... shape) {
        INDArray doubles = Nd4j.createUninitialized(DataType.DOUBLE, shape);
        if (doubles.length() != values.length) {
            throw new IllegalArgumentException("HostArrays: " + values.length + " values for shape "
                    + java.util.Arrays.toString(shape));
        }
        doubles.data().asNioDouble().put(values);
        return type == DataType.DOUBLE ? doubles : doubles.castTo(type);
    }
}
