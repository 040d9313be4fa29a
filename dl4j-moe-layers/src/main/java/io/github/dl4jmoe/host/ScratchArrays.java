package io.github.dl4jmoe.host;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Off-heap arrays reused from one pass to the next, by name, for a layer's large temporaries. A new off-heap array
 * costs page faults on first touch, which on the machines we measure on dominates the work done with it: a product
 * into a new array is several times slower than the same {@code gemm} into an existing one (README, Performance).
 *
 * <p>An array's contents belong to the current pass only: the next request under the same name returns it again.
 * Never hand one to DL4J or keep it past the pass. Not thread safe: one instance per layer instance (DL4J layers are
 * not shared between threads).
 */
public final class ScratchArrays {

    private final Map<String, INDArray> arrays = new HashMap<>();

    /**
     * A {@code [rows, cols]} array named {@code name}, uninitialised: the first rows of a buffer that grows when a pass
     * needs more rows than any before, so passes whose row count varies (expert blocks) reuse it too.
     */
    public INDArray rows(String name, DataType type, long rows, long cols) {
        INDArray a = arrays.get(name);
        if (a == null || a.dataType() != type || a.size(1) != cols || a.size(0) < rows) {
            long capacity = a != null && a.dataType() == type && a.size(1) == cols
                    ? Math.max(rows, a.size(0) + a.size(0) / 2) : rows;
            a = Nd4j.createUninitialized(type, Math.max(1, capacity), cols);
            arrays.put(name, a);
        }
        return a.size(0) == rows ? a : a.get(NDArrayIndex.interval(0, rows), NDArrayIndex.all());
    }

    /** The array named {@code name}, uninitialised; reallocated when the type or shape differs from last time. */
    public INDArray get(String name, DataType type, long... shape) {
        INDArray a = arrays.get(name);
        if (a == null || a.dataType() != type || !Arrays.equals(a.shape(), shape)) {
            a = Nd4j.createUninitialized(type, shape);
            arrays.put(name, a);
        }
        return a;
    }
}
