package io.github.dl4jmoe.host;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@link ThreadedGemm} against {@code Nd4j.gemm} in double precision: rows split ({@code a b}, {@code a b^T}), the
 * shared dimension split ({@code a^T b}, with beta 0 and 1), one call ({@code a^T b^T}, small products, the portable
 * path), on 2 and 3 threads; {@link ThreadedGemm#single} on views of first rows; the column sums; and the batched
 * products of rank-3 arrays against {@code Nd4j.matmul}.
 */
class ThreadedGemmTest {

    @AfterEach
    void defaults() {
        System.clearProperty(Parallelism.PROPERTY);
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
    }

    /** A thread count, or {@code portable}: the portable path (on 2 threads). */
    private static void use(String setting) {
        boolean portable = setting.equals("portable");
        System.setProperty(Parallelism.PROPERTY, portable ? "2" : setting);
        System.setProperty(RowBuffer.FORCE_PORTABLE, String.valueOf(portable));
    }

    @ParameterizedTest
    @ValueSource(strings = {"2", "3", "portable"})
    void agreesWithOneNd4jCall(String setting) {
        use(setting);
        Nd4j.getRandom().setSeed(9);
        int m = 301;
        int k = 97;
        int n = 113;                                         // m k n above ThreadedGemm.MIN_WORK
        assertTrue((long) m * k * n >= ThreadedGemm.MIN_WORK);
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                for (double beta : new double[] {0, 1}) {
                    INDArray a = ta ? Nd4j.randn(DataType.DOUBLE, k, m) : Nd4j.randn(DataType.DOUBLE, m, k);
                    INDArray b = tb ? Nd4j.randn(DataType.DOUBLE, n, k) : Nd4j.randn(DataType.DOUBLE, k, n);
                    INDArray start = Nd4j.randn(DataType.DOUBLE, m, n);
                    INDArray expected = Nd4j.gemm(a, b, start.dup(), ta, tb, 0.5, beta);
                    INDArray c = start.dup();
                    assertSame(c, ThreadedGemm.gemm(a, b, c, ta, tb, 0.5, beta));
                    assertArrayEquals(expected.data().asDouble(), c.data().asDouble(), 1e-12,
                            "ta=" + ta + " tb=" + tb + " beta=" + beta + ", " + setting);
                }
            }
        }
        INDArray x = Nd4j.randn(DataType.DOUBLE, 5000, 450);              // 1 x 5000 x 450: the split path
        assertArrayEquals(x.sum(true, 0).data().asDouble(), ThreadedGemm.columnSums(x).data().asDouble(), 1e-10,
                "column sums, " + setting);
    }

    /** One call on views of the first rows of larger blocks, as {@code DenseExperts} passes its blocks. */
    @ParameterizedTest
    @ValueSource(strings = {"2", "portable"})
    void singleAgreesWithOneNd4jCallOnViewsOfFirstRows(String setting) {
        use(setting);
        Nd4j.getRandom().setSeed(11);
        int m = 23;
        int k = 17;
        int n = 31;
        for (DataType type : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    for (double beta : new double[] {0, 1}) {
                        INDArray a = firstRows(ta ? Nd4j.randn(type, k + 5, m) : Nd4j.randn(type, m + 5, k),
                                ta ? k : m);
                        INDArray b = firstRows(tb ? Nd4j.randn(type, n + 3, k) : Nd4j.randn(type, k + 3, n),
                                tb ? n : k);
                        INDArray start = Nd4j.randn(type, m + 2, n);
                        INDArray expected = Nd4j.gemm(a, b, firstRows(start.dup(), m), ta, tb, 0.5, beta);
                        INDArray whole = start.dup();
                        INDArray c = firstRows(whole, m);
                        assertSame(c, ThreadedGemm.single(a, b, c, ta, tb, 0.5, beta));
                        String what = type + " ta=" + ta + " tb=" + tb + " beta=" + beta + ", " + setting;
                        assertArrayEquals(expected.dup().data().asDouble(), c.dup().data().asDouble(),
                                type == DataType.DOUBLE ? 1e-12 : 1e-4, what);
                        assertArrayEquals(start.getRows(m, m + 1).data().asDouble(),
                                whole.getRows(m, m + 1).data().asDouble(), 0.0, "rows past the view kept, " + what);
                    }
                }
            }
        }
    }

    private static INDArray firstRows(INDArray x, int rows) {
        return x.get(NDArrayIndex.interval(0, rows), NDArrayIndex.all());
    }

    @ParameterizedTest
    @ValueSource(strings = {"1", "2", "3", "portable"})
    void batchedAgreesWithNd4jMatmul(String setting) {
        use(setting);
        Nd4j.getRandom().setSeed(10);
        int slices = 48;
        int m = 37;
        int k = 29;
        int n = 43;
        assertTrue((long) slices * m * n * k >= ThreadedGemm.MIN_WORK, "large enough to be split");
        for (DataType type : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    INDArray a = ta ? Nd4j.randn(type, slices, k, m) : Nd4j.randn(type, slices, m, k);
                    INDArray b = tb ? Nd4j.randn(type, slices, n, k) : Nd4j.randn(type, slices, k, n);
                    INDArray expected = Nd4j.matmul(a, b, Nd4j.create(type, slices, m, n), ta, tb, false);
                    INDArray c = Nd4j.create(type, slices, m, n).assign(Double.NaN);   // every element written
                    assertSame(c, ThreadedGemm.batched(a, b, c, ta, tb));
                    assertArrayEquals(expected.data().asDouble(), c.data().asDouble(),
                            type == DataType.DOUBLE ? 1e-12 : 1e-4, type + " ta=" + ta + " tb=" + tb + ", " + setting);
                }
            }
        }
    }
}
