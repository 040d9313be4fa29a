package io.github.dl4jmoe.host;

import java.lang.ref.Reference;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link RowBlocks#gemm}'s CPU path: one call of the CBLAS that ND4J's CPU backend links (OpenBLAS through JavaCPP's
 * {@code openblas_nolapack}, as ND4J's own {@code CpuLevel3}), on the blocks' addresses. Loaded only on the CPU
 * backend: elsewhere the OpenBLAS classes may be absent.
 */
final class CpuBlas {

    private CpuBlas() {
    }

    static void gemm(RowBlocks.Block a, boolean transposeA, RowBlocks.Block b, boolean transposeB,
                     RowBlocks.Block c, int m, int n, int k, double alpha, double beta) {
        int ta = transposeA ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
        int tb = transposeB ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
        if (c.array().dataType() == DataType.FLOAT) {
            openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, ta, tb, m, n, k, (float) alpha,
                    floats(a), a.cols(), floats(b), b.cols(), (float) beta, floats(c), c.cols());
        } else {
            openblas_nolapack.cblas_dgemm(openblas_nolapack.CblasRowMajor, ta, tb, m, n, k, alpha,
                    doubles(a), a.cols(), doubles(b), b.cols(), beta, doubles(c), c.cols());
        }
        Reference.reachabilityFence(a.array());
        Reference.reachabilityFence(b.array());
        Reference.reachabilityFence(c.array());
    }

    /** Zeroes the block's rows, one contiguous range of its buffer. */
    static void zero(RowBlocks.Block block) {
        long bytes = (long) block.rows() * block.cols() * block.array().dataType().width();
        Pointer start = new BytePointer(base(block)).position(firstElement(block) * block.array().dataType().width());
        Pointer.memset(start, 0, bytes);
        Reference.reachabilityFence(block.array());
    }

    private static FloatPointer floats(RowBlocks.Block block) {
        return new FloatPointer(base(block)).position(firstElement(block));
    }

    private static DoublePointer doubles(RowBlocks.Block block) {
        return new DoublePointer(base(block)).position(firstElement(block));
    }

    /** The buffer's address: its own offset is applied by {@code addressPointer()} (see {@link RowBuffer}). */
    private static Pointer base(RowBlocks.Block block) {
        return block.array().data().addressPointer();
    }

    private static long firstElement(RowBlocks.Block block) {
        INDArray array = block.array();
        return RowBuffer.firstElement(array) + block.first() * block.cols();
    }
}
