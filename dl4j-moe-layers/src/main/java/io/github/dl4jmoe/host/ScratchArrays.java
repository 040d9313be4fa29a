package io.github.dl4jmoe.host;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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
