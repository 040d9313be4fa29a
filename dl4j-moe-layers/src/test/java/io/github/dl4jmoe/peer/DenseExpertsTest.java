package io.github.dl4jmoe.peer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.RowBuffer;
import io.github.dl4jmoe.host.ScratchArrays;
import io.github.dl4jmoe.ops.HiddenActivation;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@link DenseExperts} (products over all experts) against {@link PeerExperts} (loops over the retrieved rows): the
 * same outputs, gate gradients, input gradients and table-row gradients, delivered for the same experts.
 */
class DenseExpertsTest {

    @AfterEach
    void defaults() {
        System.clearProperty(Parallelism.PROPERTY);
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
    }

    /** A table as a view into a longer vector, as DL4J hands parameters to layers. */
    private static INDArray table(DataType type, int rows, int width, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray flat = Nd4j.randn(type, 1, 5 + (long) rows * width);
        return flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 5 + (long) rows * width))
                .reshape('c', rows, width);
    }

    private static double[] random(int n, Random r) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextGaussian();
        }
        return v;
    }

    /**
     * Expert ids of {@code heads} heads of {@code k} distinct experts per token (as the search returns them); heads
     * drawing from few experts retrieve the same expert for one token more than once.
     */
    private static int[] ids(int tokens, int heads, int k, int experts, Random r) {
        int[] ids = new int[tokens * heads * k];
        for (int q = 0; q < tokens * heads; q++) {
            int[] pool = r.ints(0, experts).distinct().limit(k).toArray();
            System.arraycopy(pool, 0, ids, q * k, k);
        }
        return ids;
    }

    /** What one path computes: forward, backward, and the table rows it delivered (expert to [down | up]). */
    private record Run(PeerExperts.Forward forward, PeerExperts.Gradients grads, Map<Integer, double[][]> rows) {
    }

    private static Run run(ExpertComputation experts, double[] x, double[] gates, double[] eps) {
        Map<Integer, double[][]> rows = new TreeMap<>();
        PeerExperts.Forward f = experts.forward(x, gates);
        double[][] handedOver = new double[1][];
        PeerExperts.Gradients g = experts.backward(x, gates, f, eps, () -> (e, dd, du) -> {
            synchronized (rows) {
                assertFalse(rows.containsKey(e), "expert " + e + " delivered twice");
                rows.put(e, new double[][] {dd.clone(), du.clone()});
            }
        }, gateGrads -> handedOver[0] = gateGrads.clone());
        assertArrayEquals(g.gates(), handedOver[0], 0.0, "the gate gradients handed over early");
        return new Run(f, g, rows);
    }

    private static void assertSame(Run sparse, Run dense, double tol) {
        assertArrayEquals(sparse.forward().output(), dense.forward().output(), tol, "output");
        assertArrayEquals(sparse.forward().activations(), dense.forward().activations(), tol, "activations");
        assertArrayEquals(sparse.grads().gates(), dense.grads().gates(), tol, "gate gradients");
        assertArrayEquals(sparse.grads().input(), dense.grads().input(), tol, "input gradients");
        assertEquals(sparse.rows().keySet(), dense.rows().keySet(), "experts delivered");
        for (int e : sparse.rows().keySet()) {
            assertArrayEquals(sparse.rows().get(e)[0], dense.rows().get(e)[0], tol, "down row " + e);
            assertArrayEquals(sparse.rows().get(e)[1], dense.rows().get(e)[1], tol, "up row " + e);
        }
    }

    /**
     * Shapes: few experts (duplicates across heads), N not a square, more tokens than one block holds (N = 4099: 63
     * rows per block, so the threads' ranges end in partial blocks, of one row at n = 127), a thread with a one-row
     * block (n = 3), fewer tokens than threads, nIn != nOut.
     */
    @ParameterizedTest(name = "n = {0}, heads = {1}, k = {2}, N = {3}, d = {4} -> {5}, {6}, threads = {7}")
    @CsvSource({"7, 4, 3, 9, 5, 2, GELU, 2", "7, 4, 3, 9, 5, 2, RELU, 1", "13, 2, 5, 37, 3, 6, GELU, 3",
            "1, 3, 2, 4, 4, 4, GELU, 2", "3, 2, 2, 9, 4, 3, GELU, 2", "200, 2, 4, 4099, 3, 2, GELU, 2",
            "127, 2, 3, 4099, 3, 2, GELU, 2", "200, 3, 8, 4099, 2, 3, RELU, 3"})
    void denseEqualsSparseInDouble(int tokens, int heads, int k, int numExperts, int nIn, int nOut,
                                   HiddenActivation a, int threads) {
        System.setProperty(Parallelism.PROPERTY, Integer.toString(threads));
        Random r = new Random(tokens * 31L + numExperts);
        int slots = heads * k;
        int[] ids = ids(tokens, heads, k, numExperts, r);
        double[] x = random(tokens * nIn, r);
        double[] gates = random(tokens * slots, r);
        double[] eps = random(tokens * nOut, r);
        INDArray down = table(DataType.DOUBLE, numExperts, nIn, 1);
        INDArray up = table(DataType.DOUBLE, numExperts, nOut, 2);
        Run sparse = run(new PeerExperts(down, up, ids, slots, a), x, gates, eps);
        Run dense = run(new DenseExperts(down, up, ids, slots, a, new ScratchArrays()), x, gates, eps);
        assertSame(sparse, dense, 1e-10);
    }

    @Test
    void duplicateExpertsAcrossHeadsAreSummed() {
        int[] ids = {2, 0, 2, 1, 1, 1};                    // token 0 retrieves expert 2 twice, token 1 expert 1 thrice
        Random r = new Random(5);
        double[] x = random(2 * 3, r);
        double[] gates = random(ids.length, r);
        double[] eps = random(2 * 2, r);
        INDArray down = table(DataType.DOUBLE, 3, 3, 3);
        INDArray up = table(DataType.DOUBLE, 3, 2, 4);
        Run sparse = run(new PeerExperts(down, up, ids, 3, HiddenActivation.GELU), x, gates, eps);
        Run dense = run(new DenseExperts(down, up, ids, 3, HiddenActivation.GELU, new ScratchArrays()), x, gates, eps);
        assertSame(sparse, dense, 1e-10);
        assertEquals(3, dense.rows().size());
    }

    /** The scratch blocks are reused: a second, smaller pass through the same instance gives the same results. */
    @Test
    void reusedBlocksGiveTheSameResults() {
        ScratchArrays scratch = new ScratchArrays();
        INDArray down = table(DataType.DOUBLE, 16, 4, 6);
        INDArray up = table(DataType.DOUBLE, 16, 3, 7);
        for (int tokens : new int[] {9, 4, 9}) {
            Random r = new Random(tokens);
            int[] ids = ids(tokens, 2, 3, 16, r);
            double[] x = random(tokens * 4, r);
            double[] gates = random(ids.length, r);
            double[] eps = random(tokens * 3, r);
            assertSame(run(new PeerExperts(down, up, ids, 6, HiddenActivation.GELU), x, gates, eps),
                    run(new DenseExperts(down, up, ids, 6, HiddenActivation.GELU, scratch), x, gates, eps), 1e-10);
        }
    }

    /** In float the products run in float: equal to the double loops up to float rounding. */
    @Test
    void floatTablesAgreeToFloatPrecision() {
        Random r = new Random(8);
        int[] ids = ids(50, 4, 8, 64, r);
        double[] x = random(50 * 16, r);
        double[] gates = random(ids.length, r);
        double[] eps = random(50 * 16, r);
        INDArray down = table(DataType.FLOAT, 64, 16, 9);
        INDArray up = table(DataType.FLOAT, 64, 16, 10);
        Run sparse = run(new PeerExperts(down, up, ids, 32, HiddenActivation.GELU), x, gates, eps);
        Run dense = run(new DenseExperts(down, up, ids, 32, HiddenActivation.GELU, new ScratchArrays()), x, gates,
                eps);
        assertSame(sparse, dense, 1e-3);
    }

    /** The portable row access (other backends) gives exactly what the CPU's raw copies give. */
    @Test
    void portableRowsGiveIdenticalResults() {
        Random r = new Random(11);
        int[] ids = ids(20, 2, 4, 25, r);
        double[] x = random(20 * 5, r);
        double[] gates = random(ids.length, r);
        double[] eps = random(20 * 4, r);
        INDArray down = table(DataType.FLOAT, 25, 5, 12);
        INDArray up = table(DataType.FLOAT, 25, 4, 13);
        Run raw = run(new DenseExperts(down, up, ids, 8, HiddenActivation.GELU, new ScratchArrays()), x, gates, eps);
        System.setProperty(RowBuffer.FORCE_PORTABLE, "true");
        Run portable = run(new DenseExperts(down, up, ids, 8, HiddenActivation.GELU, new ScratchArrays()), x, gates,
                eps);
        assertSame(raw, portable, 0.0);
    }

    @Test
    void autoChoosesProductsForSmallTablesOnly() {
        assertTrue(PeerPath.AUTO.denseExperts(1024, 128), "the examples' language model: N = 1024, 4 x 32 slots");
        assertFalse(PeerPath.AUTO.denseExperts(65_536, 128), "bench peer: N = 65,536, 8 x 16 slots");
        assertTrue(PeerPath.DENSE.denseExperts(1 << 20, 1));
        assertFalse(PeerPath.SPARSE.denseExperts(4, 4));
    }

    @Test
    void bothPathsNameTheirMistakes() {
        INDArray down = Nd4j.rand(DataType.DOUBLE, 8, 4);
        INDArray up = Nd4j.rand(DataType.DOUBLE, 8, 3);
        int[] ids = {0, 1, 2, 3, 4, 5};
        ExpertComputation[] paths = {new PeerExperts(down, up, ids, 3, HiddenActivation.GELU),
            new DenseExperts(down, up, ids, 3, HiddenActivation.GELU, new ScratchArrays())};
        String[] owners = {"PeerExperts", "DenseExperts"};
        for (int i = 0; i < 2; i++) {
            ExpertComputation path = paths[i];
            IllegalArgumentException lengths = assertThrows(IllegalArgumentException.class,
                    () -> path.forward(new double[7], new double[6]));
            assertEquals(owners[i] + ": 2 tokens of width 4 and 6 slots, got 7 input values and 6 gates",
                    lengths.getMessage());
        }
        IllegalArgumentException sparse = assertThrows(IllegalArgumentException.class,
                () -> new PeerExperts(down, up, new int[5], 3, HiddenActivation.GELU));
        assertEquals("PeerExperts: 5 expert ids for 3 slots per token", sparse.getMessage());
        IllegalArgumentException dense = assertThrows(IllegalArgumentException.class,
                () -> new DenseExperts(down, up, new int[5], 3, HiddenActivation.GELU, new ScratchArrays()));
        assertEquals("DenseExperts: 5 expert ids for 3 slots per token", dense.getMessage());
    }
}
