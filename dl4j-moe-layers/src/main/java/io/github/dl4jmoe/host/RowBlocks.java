package io.github.dl4jmoe.host;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Matrix products on blocks of rows: rows {@code [first, first + rows)} of a row-major matrix, or of a row-major
 * table {@code [E, r, c]} seen as {@code [E * r, c]} (slice e is the block at {@code e * r}). The routed experts run
 * 9 products per expert and step on such blocks (64 experts: 576 products of about 64 x 256 x 64).
 *
 * <p>{@link #gemm} chooses its path at run time. On the CPU backend with FLOAT or DOUBLE blocks it is one BLAS call
 * on the blocks' addresses ({@link CpuBlas}): {@code Nd4j.gemm} costs about 30 us per call on M2.1 beyond the product
 * itself (a 64 x 256 x 64 product: 39 us as one BLAS call, 65-85 us through {@code Nd4j.gemm}, measured side by side),
 * so the calls alone were a fifth of a MoE layer's step. Elsewhere (CUDA, or with {@link RowBuffer#FORCE_PORTABLE})
 * it is {@code Nd4j.gemm} on views of the blocks. Both give the same values ({@code RowBlocksTest}).
 */
public final class RowBlocks {

    private RowBlocks() {
    }

    /**
     * Rows {@code [first, first + rows)} of {@code array}, a row-major matrix or table whose last dimension is the
     * block's width. Hold the array while the block is used.
     */
    public record Block(INDArray array, long first, int rows) {

        public Block {
            if (!HostArrays.isCRowMajor(array) || array.rank() < 2) {
                throw new IllegalArgumentException("RowBlocks: need a row-major matrix or table, got "
                        + array.shapeInfoToString());
            }
            if (first < 0 || rows < 0 || first + rows > array.length() / cols(array)) {
                throw new IndexOutOfBoundsException("RowBlocks: rows [" + first + ", " + (first + rows) + ") of "
                        + array.length() / cols(array));
            }
        }

        /** Slice {@code index} of a table {@code [E, r, c]}. */
        public static Block slice(INDArray table, int index) {
            int rows = (int) table.size(1);
            return new Block(table, (long) index * rows, rows);
        }

        public int cols() {
            return cols(array);
        }

        private static int cols(INDArray array) {
            return (int) array.size(array.rank() - 1);
        }

        /** The block as an ND4J view: for the portable path. */
        INDArray view() {
            INDArray matrix = array.rank() == 2 ? array : array.reshape('c', array.length() / cols(), cols());
            return matrix.get(NDArrayIndex.interval(first, first + rows), NDArrayIndex.all());
        }
    }

    /** Whether {@link #gemm} takes the CPU path in this JVM. */
    public static boolean rawPath() {
        return Nd4j.getEnvironment().isCPU() && !Boolean.getBoolean(RowBuffer.FORCE_PORTABLE);
    }

    /** Sets the block's elements to zero. */
    public static void zero(Block block) {
        if (rawPath()) {
            CpuBlas.zero(block);
        } else {
            block.view().assign(0);
        }
    }

    /**
     * Sets every element of {@code array} to zero: on the CPU path a row-major matrix or table is one memset, anything
     * else is {@code assign(0)}. ND4J's scalar op took 40-170 us for a 1 MiB float matrix where the memset takes 17 us,
     * and PEER clears such blocks 24 times per layer and step.
     */
    public static void zero(INDArray array) {
        if (array.isEmpty()) {
            return;
        }
        if (rawPath() && array.rank() >= 2 && HostArrays.isCRowMajor(array)) {
            long cols = array.size(array.rank() - 1);
            CpuBlas.zero(new Block(array, 0, Math.toIntExact(array.length() / cols)));
        } else {
            array.assign(0);
        }
    }

    /** {@code c = alpha op(a) op(b) + beta c}, op transposing when asked, as {@code Nd4j.gemm}. */
    public static void gemm(Block a, boolean transposeA, Block b, boolean transposeB, Block c, double alpha,
                            double beta) {
        int m = transposeA ? a.cols() : a.rows();
        int k = transposeA ? a.rows() : a.cols();
        int n = transposeB ? b.rows() : b.cols();
        if ((transposeB ? b.cols() : b.rows()) != k || c.rows() != m || c.cols() != n) {
            throw new IllegalArgumentException("RowBlocks: cannot multiply [" + m + ", " + k + "] by ["
                    + (transposeB ? b.cols() : b.rows()) + ", " + n + "] into [" + c.rows() + ", " + c.cols() + "]");
        }
        DataType type = c.array().dataType();
        if (a.array().dataType() != type || b.array().dataType() != type) {
            throw new IllegalArgumentException("RowBlocks: mixed data types " + a.array().dataType() + ", "
                    + b.array().dataType() + ", " + type);
        }
        if (m == 0 || n == 0) {
            return;
        }
        if (rawPath() && (type == DataType.FLOAT || type == DataType.DOUBLE)) {
            CpuBlas.gemm(a, transposeA, b, transposeB, c, m, n, k, alpha, beta);
        } else {
            Nd4j.gemm(a.view(), b.view(), c.view(), transposeA, transposeB, alpha, beta);
        }
    }
}
