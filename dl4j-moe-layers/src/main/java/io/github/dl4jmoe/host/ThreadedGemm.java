package io.github.dl4jmoe.host;

import io.github.dl4jmoe.host.RowBlocks.Block;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code c = alpha op(a) op(b) + beta c} for whole matrices, as {@code Nd4j.gemm}, split over
 * {@link Parallelism#threads()} Java threads on the CPU path, each part one BLAS call ({@link RowBlocks#gemm}).
 *
 * <p>Why: the programs run ND4J with one native thread ({@link NativeThreads}), because OpenMP threads cost more than
 * they save on the small operations of the examples' models; a single large product then uses one core. Here the
 * rows of {@code op(a)} and {@code c} are split into contiguous ranges; for {@code a^T b} (a weight gradient, whose
 * output is small and whose shared dimension is the tokens) the shared dimension is split instead, each further part
 * written into its own array and added to {@code c} afterwards. Products below {@link #MIN_WORK} multiply-adds take
 * one BLAS call; arrays that are not row-major matrices, other data types and the portable path take one
 * {@code Nd4j.gemm} call.
 * Results differ from one call's only in the order of the additions of a split shared dimension.
 */
public final class ThreadedGemm {

    /** Multiply-adds below which a product runs as one call: splitting it would cost more than it saves. */
    static final long MIN_WORK = 1L << 21;

    private ThreadedGemm() {
    }

    /** As {@code Nd4j.gemm(a, b, c, transposeA, transposeB, alpha, beta)}; returns {@code c}. */
    public static INDArray gemm(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB,
                                double alpha, double beta) {
        int m = c.rows();
        int n = c.columns();
        int k = transposeA ? a.rows() : a.columns();
        int parts = Math.min(Parallelism.threads(), transposeA ? k : m);
        if (!blasServes(a, b, c) || parts < 2 || (long) m * n * k < MIN_WORK || transposeA && transposeB) {
            return single(a, b, c, transposeA, transposeB, alpha, beta);
        }
        if (!transposeA) {
            Parallelism.inRanges(m, parts, (p, from, to) -> RowBlocks.gemm(new Block(a, from, to - from), false,
                    whole(b), transposeB, new Block(c, from, to - from), alpha, beta));
            return c;
        }
        INDArray[] partial = new INDArray[parts];                  // part 0 writes c, the others their own arrays
        partial[0] = c;
        for (int p = 1; p < parts; p++) {
            partial[p] = Nd4j.createUninitialized(c.dataType(), m, n);
        }
        Parallelism.inRanges(k, parts, (p, from, to) -> RowBlocks.gemm(new Block(a, from, to - from), true,
                new Block(b, from, to - from), false, whole(partial[p]), alpha, p == 0 ? beta : 0));
        for (int p = 1; p < parts; p++) {
            c.addi(partial[p]);
        }
        return c;
    }

    /**
     * As {@code Nd4j.gemm(a, b, c, transposeA, transposeB, alpha, beta)} in one call on the calling thread: one BLAS
     * call on the CPU path (for callers that split their work over threads themselves), {@code Nd4j.gemm} otherwise.
     * Returns {@code c}.
     */
    public static INDArray single(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB,
                                  double alpha, double beta) {
        if (!blasServes(a, b, c)) {
            return Nd4j.gemm(a, b, c, transposeA, transposeB, alpha, beta);
        }
        RowBlocks.gemm(whole(a), transposeA, whole(b), transposeB, whole(c), alpha, beta);
        return c;
    }

    /** Whether BLAS on the arrays' addresses serves this product: the CPU path, row-major matrices of one type. */
    private static boolean blasServes(INDArray a, INDArray b, INDArray c) {
        return RowBlocks.rawPath() && splittable(a) && splittable(b) && splittable(c)
                && a.dataType() == c.dataType() && b.dataType() == c.dataType();
    }

    /**
     * The column sums of a matrix {@code [m, n]} as a new {@code [1, n]} row, a bias gradient: the product
     * {@code ones^T x}, which BLAS computes faster than ND4J's sum reduction (about half the time on M2.1) and which
     * splits over threads as any {@code a^T b}.
     */
    public static INDArray columnSums(INDArray x) {
        INDArray ones = Nd4j.ones(x.dataType(), x.rows(), 1);
        return gemm(ones, x, Nd4j.createUninitialized(x.dataType(), 1, x.columns()), true, false, 1.0, 0.0);
    }

    /**
     * {@code c[p] = op(a[p]) op(b[p])} for every slice p of rank-3 arrays, as
     * {@code Nd4j.matmul(a, b, c, transposeA, transposeB, false)}; returns {@code c}. On the CPU path each slice is one
     * BLAS call and the slices are split over the threads: M2.1's batched product runs its own loops in one native
     * thread, 3 to 4 times slower on the attention's {@code [mb h, T, dh]} blocks.
     */
    public static INDArray batched(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB) {
        if (!RowBlocks.rawPath() || !splittable(a, 3) || !splittable(b, 3) || !splittable(c, 3)
                || a.dataType() != c.dataType() || b.dataType() != c.dataType()
                || a.size(0) != c.size(0) || b.size(0) != c.size(0)) {
            return Nd4j.matmul(a, b, c, transposeA, transposeB, false);
        }
        int slices = (int) c.size(0);
        long work = c.length() * (transposeA ? a.size(1) : a.size(2));
        int parts = work < MIN_WORK ? 1 : Math.min(Parallelism.threads(), slices);
        Parallelism.inRanges(slices, parts, (part, from, to) -> {
            for (int p = from; p < to; p++) {
                RowBlocks.gemm(Block.slice(a, p), transposeA, Block.slice(b, p), transposeB, Block.slice(c, p), 1.0,
                        0.0);
            }
        });
        return c;
    }

    private static boolean splittable(INDArray x) {
        return splittable(x, 2);
    }

    private static boolean splittable(INDArray x, int rank) {
        return x.rank() == rank && HostArrays.isCRowMajor(x)
                && (x.dataType() == DataType.FLOAT || x.dataType() == DataType.DOUBLE);
    }

    private static Block whole(INDArray x) {
        return new Block(x, 0, x.rows());
    }
}
