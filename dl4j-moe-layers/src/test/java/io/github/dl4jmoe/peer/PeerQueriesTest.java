package io.github.dl4jmoe.peer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;

/** {@link PeerQueries}' backward pass through the dense score gradients against its loop over the selected scores. */
class PeerQueriesTest {

    @AfterEach
    void defaultPath() {
        System.clearProperty(PeerPath.PROPERTY);
    }

    /** Parameters and gradients in maps, as a layer's runtime holds them. */
    private static final class Context implements HostContext {
        final Map<String, INDArray> params = new HashMap<>();
        final Map<String, INDArray> gradients = new HashMap<>();

        @Override
        public INDArray param(String key) {
            return params.get(key);
        }

        @Override
        public INDArray gradient(String key) {
            return gradients.computeIfAbsent(key, k -> Nd4j.zeros(params.get(k).dataType(), params.get(k).shape()));
        }

        @Override
        public IUpdater configuredUpdater(String key) {
            return new Sgd(0.1);
        }

        @Override
        public boolean training() {
            return true;
        }

        @Override
        public long minibatch() {
            return 1;
        }

        @Override
        public int iteration() {
            return 0;
        }

        @Override
        public int epoch() {
            return 0;
        }

        @Override
        public double auxScale() {
            return 1;
        }
    }

    private static Context context(int d, int heads, int keySize, int subKeys, boolean shared, long seed) {
        Nd4j.getRandom().setSeed(seed);
        Context ctx = new Context();
        int keyRows = shared ? subKeys : heads * subKeys;
        ctx.params.put(PeerKeys.W_QUERY, Nd4j.randn(DataType.DOUBLE, d, (long) heads * keySize));
        ctx.params.put(PeerKeys.SUB_KEYS_1, Nd4j.randn(DataType.DOUBLE, keyRows, keySize / 2));
        ctx.params.put(PeerKeys.SUB_KEYS_2, Nd4j.randn(DataType.DOUBLE, keyRows, keySize / 2));
        ctx.params.put(PeerKeys.RUNNING_MEAN, Nd4j.zeros(DataType.DOUBLE, 1, (long) heads * keySize));
        ctx.params.put(PeerKeys.RUNNING_VAR, Nd4j.ones(DataType.DOUBLE, 1, (long) heads * keySize));
        return ctx;
    }

    /** dL/dx and every parameter gradient of one backward pass on the path {@code path}. */
    private static Map<String, double[]> backward(PeerPath path, int heads, int keySize, int subKeys, int topK,
                                                  boolean shared, QueryNormalization norm) {
        System.setProperty(PeerPath.PROPERTY, path.name());
        int tokens = 11;
        int d = 5;
        Context ctx = context(d, heads, keySize, subKeys, shared, 3);
        PeerQueries queries = new PeerQueries(heads, keySize, subKeys, topK, shared, norm);
        INDArray x = Nd4j.randn(DataType.DOUBLE, tokens, d);
        PeerQueries.Forward f = queries.forward(ctx, x);
        ProductKeySearch.Result found = ProductKeySearch.search(f.scores1(), f.scores2(), topK, topK);
        Random r = new Random(4);
        double[] scoreGrads = new double[found.keys().length];
        for (int p = 0; p < scoreGrads.length; p++) {
            scoreGrads[p] = r.nextGaussian();
        }
        Map<String, double[]> out = new HashMap<>();
        out.put("x", HostArrays.toDoubles(queries.backward(ctx, f, found.keys(), scoreGrads)));
        ctx.gradients.forEach((key, g) -> out.put(key, HostArrays.toDoubles(g)));
        return out;
    }

    @ParameterizedTest(name = "heads = {0}, dKey = {1}, sqrt N = {2}, k = {3}, shared = {4}, {5}")
    @CsvSource({"2, 4, 4, 2, true, NONE", "3, 6, 5, 3, false, LAYER", "4, 8, 7, 7, true, BATCH",
            "2, 2, 9, 4, false, BATCH", "1, 4, 3, 1, true, LAYER"})
    void denseScoreGradientsEqualTheLoop(int heads, int keySize, int subKeys, int topK, boolean shared,
                                         QueryNormalization norm) {
        Map<String, double[]> sparse = backward(PeerPath.SPARSE, heads, keySize, subKeys, topK, shared, norm);
        Map<String, double[]> dense = backward(PeerPath.DENSE, heads, keySize, subKeys, topK, shared, norm);
        assertEquals(sparse.keySet(), dense.keySet());
        for (String key : sparse.keySet()) {
            assertArrayEquals(sparse.get(key), dense.get(key), 1e-10, key);
        }
        assertTrue(sparse.containsKey(PeerKeys.SUB_KEYS_2) && sparse.containsKey(PeerKeys.W_QUERY));
    }

    @Test
    void autoFormsDenseScoreGradientsForFewSubKeysOnly() {
        assertTrue(PeerPath.AUTO.denseKeys(32, 32), "the examples' language model: sqrt N = 32, k = 32");
        assertFalse(PeerPath.AUTO.denseKeys(256, 16), "bench peer: sqrt N = 256, k = 16");
    }
}
