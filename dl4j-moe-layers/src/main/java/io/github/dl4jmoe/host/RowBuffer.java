package io.github.dl4jmoe.host;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Row and element access to a row-major {@code [rows, width]} FLOAT or DOUBLE array (a view into a parameter vector
 * included).
 * {@link #of} chooses the implementation at run time: on the CPU backend this class, raw memory copies; on any other
 * backend (CUDA) {@link PortableRows}, element access through the array's {@code DataBuffer}, which the backend keeps
 * in sync with the device. Both give the same values ({@code RowBufferTest}).
 *
 * <p>The CPU path is one bulk memory copy per row ({@code Unsafe.copyMemory}, the copy JavaCPP and NIO use
 * internally), no native call and no per-element ND4J access, and no 2 GiB limit (an NIO view of a PEER parameter
 * vector at N = 1,048,576 would be larger). The profile of a PEER step showed per-element reads through JavaCPP's
 * indexers as its largest Java cost; a row copy is a memcpy. Hold the array itself while using this: the address does
 * not keep the INDArray alive. One instance per thread (it owns a row scratch buffer).
 *
 * <p>{@code sun.misc.Unsafe} is reached through a method handle: it needs no JVM flag on Java 17 (module
 * jdk.unsupported), and javac's proprietary-API warning, which cannot be suppressed, would fail our -Werror build.
 */
public class RowBuffer {

    /** {@code Unsafe.copyMemory(Object srcBase, long srcOffset, Object destBase, long destOffset, long bytes)}. */
    private static final MethodHandle COPY_MEMORY;
    /** {@code Unsafe.getFloat(long address)}, {@code putFloat(long, float)} and the same for double. */
    private static final MethodHandle GET_FLOAT;
    private static final MethodHandle PUT_FLOAT;
    private static final MethodHandle GET_DOUBLE;
    private static final MethodHandle PUT_DOUBLE;
    private static final long FLOAT_ARRAY_BASE;
    private static final long DOUBLE_ARRAY_BASE;

    static {
        try {
            Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
            Field f = unsafeClass.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            Object unsafe = f.get(null);
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            COPY_MEMORY = lookup.findVirtual(unsafeClass, "copyMemory", MethodType.methodType(void.class,
                    Object.class, long.class, Object.class, long.class, long.class)).bindTo(unsafe);
            GET_FLOAT = lookup.findVirtual(unsafeClass, "getFloat", MethodType.methodType(float.class, long.class))
                    .bindTo(unsafe);
            PUT_FLOAT = lookup.findVirtual(unsafeClass, "putFloat", MethodType.methodType(void.class, long.class,
                    float.class)).bindTo(unsafe);
            GET_DOUBLE = lookup.findVirtual(unsafeClass, "getDouble", MethodType.methodType(double.class, long.class))
                    .bindTo(unsafe);
            PUT_DOUBLE = lookup.findVirtual(unsafeClass, "putDouble", MethodType.methodType(void.class, long.class,
                    double.class)).bindTo(unsafe);
            MethodHandle arrayBase = lookup.findVirtual(unsafeClass, "arrayBaseOffset",
                    MethodType.methodType(int.class, Class.class)).bindTo(unsafe);
            FLOAT_ARRAY_BASE = (int) arrayBase.invokeExact(float[].class);
            DOUBLE_ARRAY_BASE = (int) arrayBase.invokeExact(double[].class);
        } catch (Throwable e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final long address;
    private final long rows;
    private final int width;
    private final boolean isFloat;
    private final float[] floatRow;

    /**
     * System property that, set to {@code true}, makes {@link #of} choose the portable path on the CPU backend too
     * (tests compare the two; it also isolates a problem of the raw copies).
     */
    public static final String FORCE_PORTABLE = "dl4jmoe.portableRows";

    /** Row access to {@code array}: raw copies on the CPU backend, {@link PortableRows} elsewhere. */
    public static RowBuffer of(INDArray array) {
        boolean raw = Nd4j.getEnvironment().isCPU() && !Boolean.getBoolean(FORCE_PORTABLE);
        return raw ? new RowBuffer(array) : new PortableRows(array);
    }

    /** The CPU path; prefer {@link #of}. */
    public RowBuffer(INDArray array) {
        this(array, true);
    }

    /** @param raw whether to take the array's native address for raw copies (the CPU path) */
    protected RowBuffer(INDArray array, boolean raw) {
        check(array);
        this.rows = array.size(0);
        this.width = (int) array.size(1);
        this.isFloat = array.dataType() == DataType.FLOAT;
        this.floatRow = isFloat ? new float[width] : null;
        this.address = raw ? array.data().addressPointer().address() + firstElement(array) * array.dataType().width()
                : 0;
    }

    private static void check(INDArray array) {
        if (array.rank() != 2 || array.ordering() != 'c' || !rowMajor(array)) {
            throw new IllegalArgumentException("RowBuffer: need a row-major [rows, width] array, got "
                    + array.shapeInfoToString());
        }
        if (array.dataType() != DataType.FLOAT && array.dataType() != DataType.DOUBLE) {
            throw new IllegalArgumentException("RowBuffer: FLOAT or DOUBLE only, got " + array.dataType());
        }
    }

    /**
     * Whether the rows are contiguous and consecutive. Unlike {@code Shape.hasDefaultStridesForShape}, which on M2.1
     * rejects a one-row view {@code [1, width]} with strides {@code [width, 1]}, this ignores the stride of a
     * dimension of size 1 (as {@code HostArrays} does).
     */
    private static boolean rowMajor(INDArray array) {
        return (array.size(1) == 1 || array.stride(1) == 1)
                && (array.size(0) == 1 || array.stride(0) == array.size(1));
    }

    /**
     * Index of the array's first element in its {@code DataBuffer}: the buffer's own offset is already applied by
     * {@code addressPointer()} and by element access, the array may start further in.
     */
    static long firstElement(INDArray array) {
        return array.offset() - array.data().offset();
    }

    public long rows() {
        return rows;
    }

    public int width() {
        return width;
    }

    /** Copies row {@code r} into {@code out}. */
    public void get(long r, double[] out) {
        long at = rowAddress(r);
        if (isFloat) {
            copy(null, at, floatRow, FLOAT_ARRAY_BASE, (long) width * Float.BYTES);
            for (int j = 0; j < width; j++) {
                out[j] = floatRow[j];
            }
        } else {
            copy(null, at, out, DOUBLE_ARRAY_BASE, (long) width * Double.BYTES);
        }
    }

    public void put(long r, double[] row) {
        long at = rowAddress(r);
        if (isFloat) {
            for (int j = 0; j < width; j++) {
                floatRow[j] = (float) row[j];
            }
            copy(floatRow, FLOAT_ARRAY_BASE, null, at, (long) width * Float.BYTES);
        } else {
            copy(row, DOUBLE_ARRAY_BASE, null, at, (long) width * Double.BYTES);
        }
    }

    /** Copies row {@code r} of a FLOAT array into {@code out} (at least {@link #width()} long), as floats. */
    public void getFloats(long r, float[] out) {
        requireFloats(out);
        copy(null, rowAddress(r), out, FLOAT_ARRAY_BASE, (long) width * Float.BYTES);
    }

    /** Writes the first {@link #width()} values of {@code row} into row {@code r} of a FLOAT array. */
    public void putFloats(long r, float[] row) {
        requireFloats(row);
        copy(row, FLOAT_ARRAY_BASE, null, rowAddress(r), (long) width * Float.BYTES);
    }

    /** The checks of the float row methods: a raw copy must not run past the Java array. */
    void requireFloats(float[] row) {
        if (!isFloat) {
            throw new IllegalStateException("RowBuffer: float rows of a DOUBLE array");
        }
        if (row.length < width) {
            throw new IllegalArgumentException("RowBuffer: a row of " + width + " values, got an array of "
                    + row.length);
        }
    }

    /** Element {@code column} of row {@code r}. */
    public double get(long r, int column) {
        long at = elementAddress(r, column);
        try {
            return isFloat ? (float) GET_FLOAT.invokeExact(at) : (double) GET_DOUBLE.invokeExact(at);
        } catch (Throwable e) {
            throw new IllegalStateException("RowBuffer: memory read failed", e);
        }
    }

    /** Sets element {@code column} of row {@code r} (rounded to float in a FLOAT array). */
    public void put(long r, int column, double value) {
        long at = elementAddress(r, column);
        try {
            if (isFloat) {
                PUT_FLOAT.invokeExact(at, (float) value);
            } else {
                PUT_DOUBLE.invokeExact(at, value);
            }
        } catch (Throwable e) {
            throw new IllegalStateException("RowBuffer: memory write failed", e);
        }
    }

    private long elementAddress(long r, int column) {
        if (column < 0 || column >= width) {
            throw new IndexOutOfBoundsException("RowBuffer: column " + column + " of " + width);
        }
        return rowAddress(r) + (long) column * (isFloat ? Float.BYTES : Double.BYTES);
    }

    long rowAddress(long r) {
        if (r < 0 || r >= rows) {
            throw new IndexOutOfBoundsException("RowBuffer: row " + r + " of " + rows);
        }
        return address + r * width * (isFloat ? Float.BYTES : Double.BYTES);
    }

    private static void copy(Object srcBase, long srcOffset, Object destBase, long destOffset, long bytes) {
        try {
            COPY_MEMORY.invokeExact(srcBase, srcOffset, destBase, destOffset, bytes);
        } catch (Throwable e) {
            throw new IllegalStateException("RowBuffer: memory copy failed", e);
        }
    }
}
