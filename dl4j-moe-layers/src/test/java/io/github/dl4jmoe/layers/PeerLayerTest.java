package io.github.dl4jmoe.layers;

import static io.github.dl4jmoe.testutil.ConfigAssertions.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.IntStream;

import io.github.dl4jmoe.layers.PeerLayer.QueryNorm;
import io.github.dl4jmoe.layers.PeerLayer.TableUpdates;
import io.github.dl4jmoe.peer.PeerPath;
import io.github.dl4jmoe.runtime.MoeLayerRuntime;
import io.github.dl4jmoe.testutil.GradientChecks;
import org.apache.commons.math3.special.Erf;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.ops.transforms.Transforms;

class PeerLayerTest {

    private static final int D = 6;
    private static final int N_OUT = 3;

    @BeforeEach
    void doublePrecision() {
        GradientChecks.useDoublePrecision();
        Nd4j.getRandom().setSeed(17);
    }

    private static PeerLayer.Builder peer(long experts, int heads, int topK, int keySize) {
        return new PeerLayer.Builder().numExperts(experts).heads(heads).topK(topK).keySize(keySize);
    }

    private static MultiLayerNetwork network(PeerLayer layer, boolean sequence, NeuralNetConfiguration.Builder base) {
        var list = base.list().layer(layer);
        if (sequence) {
            list.layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                            .activation(Activation.IDENTITY).build())
                    .setInputType(InputType.recurrent(D));
        } else {
            list.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                            .activation(Activation.IDENTITY).build())
                    .setInputType(InputType.feedForward(D));
        }
        MultiLayerNetwork net = new MultiLayerNetwork(list.build());
        net.init();
        return net;
    }

    private static MultiLayerNetwork network(PeerLayer layer) {
        return network(layer, false, GradientChecks.doubleNetwork(21));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Naive reference: every key scored, sorted, the paper's formula evaluated token by token.

    /** Expert ids {@code [n*h][k]} and gates, and the output, from scoring all N keys. */
    record Reference(int[][] experts, double[][] gates, INDArray output) {
    }

    static Reference reference(PeerLayer conf, Map<String, INDArray> p, INDArray x, INDArray queries) {
        int n = (int) x.size(0);
        int h = conf.getHeads();
        int k = conf.getTopK();
        int dk = conf.getKeySize();
        int root = (int) Math.round(Math.sqrt(conf.getNumExperts()));
        double[][] c1 = p.get(PeerLayer.SUB_KEYS_1).toDoubleMatrix();
        double[][] c2 = p.get(PeerLayer.SUB_KEYS_2).toDoubleMatrix();
        double[][] down = p.get(PeerLayer.DOWN).toDoubleMatrix();
        double[][] up = p.get(PeerLayer.UP).toDoubleMatrix();
        double[][] q = queries.toDoubleMatrix();
        double[][] xs = x.toDoubleMatrix();
        int[][] experts = new int[n * h][];
        double[][] gates = new double[n * h][];
        double[][] y = new double[n][(int) conf.getNOut()];
        for (int t = 0; t < n; t++) {
            for (int head = 0; head < h; head++) {
                int offset = conf.isSharedKeys() ? 0 : head * root;
                double[] scores = new double[(int) conf.getNumExperts()];
                for (int e = 0; e < scores.length; e++) {
                    for (int j = 0; j < dk / 2; j++) {
                        scores[e] += q[t][head * dk + j] * c1[offset + e / root][j]
                                + q[t][head * dk + dk / 2 + j] * c2[offset + e % root][j];
                    }
                }
                int[] top = IntStream.range(0, scores.length).boxed()
                        .sorted(Comparator.comparingDouble((Integer e) -> -scores[e])).limit(k)
                        .mapToInt(Integer::intValue).toArray();
                double max = scores[top[0]];
                double sum = 0;
                double[] g = new double[k];
                for (int j = 0; j < k; j++) {
                    g[j] = Math.exp(scores[top[j]] - max);
                    sum += g[j];
                }
                for (int j = 0; j < k; j++) {
                    g[j] /= sum;
                    double pre = 0;
                    for (int i = 0; i < D; i++) {
                        pre += xs[t][i] * down[top[j]][i];
                    }
                    double act = 0.5 * pre * (1 + Erf.erf(pre / Math.sqrt(2)));          // GELU
                    for (int o = 0; o < y[t].length; o++) {
                        y[t][o] += g[j] * act * up[top[j]][o];
                    }
                }
                experts[t * h + head] = top;
                gates[t * h + head] = g;
            }
        }
        return new Reference(experts, gates, Nd4j.createFromArray(y));
    }

    private static INDArray rawQueries(MultiLayerNetwork net, INDArray x) {
        return x.mmul(net.getLayer(0).getParam(PeerLayer.W_QUERY));
    }

    private static void assertRetrievalMatchesBruteForce(PeerLayer layer) {
        MultiLayerNetwork net = network(layer);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 9, D);
        INDArray y = net.feedForward(x, false).get(1);
        Reference ref = reference(layer, net.getLayer(0).paramTable(), x, rawQueries(net, x));
        Map<String, INDArray> stats = ((MoeLayerRuntime) net.getLayer(0)).statistics();
        INDArray experts = stats.get(PeerLayer.STAT_EXPERTS);
        INDArray gates = stats.get(PeerLayer.STAT_GATES);
        for (int r = 0; r < ref.experts().length; r++) {
            assertArrayEquals(ref.experts()[r], experts.getRow(r).toIntVector(), "query row " + r);
            assertArrayEquals(ref.gates()[r], gates.getRow(r).toDoubleVector(), 1e-12, "gates of query row " + r);
        }
        assertEquals(0.0, ref.output().sub(y).amaxNumber().doubleValue(), 1e-12);
    }

    @Test
    void retrievalIsIdenticalToBruteForceOverAllKeys() {
        assertRetrievalMatchesBruteForce(peer(16 * 16, 3, 4, 8).queryNorm(QueryNorm.NONE).build());
        assertRetrievalMatchesBruteForce(peer(32 * 32, 2, 5, 6).queryNorm(QueryNorm.NONE).nOut(N_OUT).build());
        assertRetrievalMatchesBruteForce(peer(16 * 16, 3, 4, 8).queryNorm(QueryNorm.NONE).sharedKeys(false).build());
        assertRetrievalMatchesBruteForce(peer(16 * 16, 2, 3, 4).queryNorm(QueryNorm.NONE).candidates(9).build());
    }

    @Test
    void batchNormUsesBatchStatisticsInTrainingAndRunningStatisticsAtInference() {
        PeerLayer layer = peer(64, 2, 3, 4).build();
        MultiLayerNetwork net = network(layer);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 12, D).addi(2.0);
        INDArray q = rawQueries(net, x);
        Map<String, INDArray> p = net.getLayer(0).paramTable();

        INDArray mean = q.mean(true, 0);
        INDArray var = q.sub(mean).mul(q.sub(mean)).mean(true, 0);
        INDArray batchNormed = q.subRowVector(mean)
                .divRowVector(Transforms.sqrt(var.add(PeerLayer.NORM_EPSILON), true));
        INDArray trainingOut = net.feedForward(x, true).get(1);
        assertEquals(0.0, reference(layer, p, x, batchNormed).output().sub(trainingOut).amaxNumber().doubleValue(),
                1e-10, "training: batch statistics");

        INDArray running = q.div(Math.sqrt(1 + PeerLayer.NORM_EPSILON));                // mean 0, var 1 at init
        assertEquals(0.0, reference(layer, p, x, running).output().sub(net.feedForward(x, false).get(1))
                .amaxNumber().doubleValue(), 1e-10, "inference: running statistics");

        net.fit(new DataSet(x, Nd4j.randn(DataType.DOUBLE, 12, N_OUT)));
        assertEquals(0.0, p.get(PeerLayer.RUNNING_MEAN).sub(mean.mul(1 - PeerLayer.BATCH_NORM_DECAY))
                .amaxNumber().doubleValue(), 1e-10, "running mean after one step");
    }

    // ---------------------------------------------------------------------------------------------------------------

    private static PeerLayer.Builder small() {
        return peer(16, 2, 2, 4).tableUpdates(TableUpdates.DENSE);
    }

    /**
     * The gradient checks above run on the path chosen for their sizes (products over all experts, PeerPath.AUTO at
     * 16 experts); these force each path, so both are checked.
     */
    @ParameterizedTest
    @EnumSource(value = PeerPath.class, names = {"DENSE", "SPARSE"})
    void gradientCheckOnEachPath(PeerPath path) {
        System.setProperty(PeerPath.PROPERTY, path.name());
        try {
            assertTrue(GradientChecks.check(network(small().build()), Nd4j.randn(DataType.DOUBLE, 5, D),
                    Nd4j.randn(DataType.DOUBLE, 5, N_OUT)), "2d");
            assertTrue(GradientChecks.check(network(small().sharedKeys(false).queryNorm(QueryNorm.LAYER)
                    .gate(PeerLayer.Gate.SIGMOID).build()), Nd4j.randn(DataType.DOUBLE, 5, D),
                    Nd4j.randn(DataType.DOUBLE, 5, N_OUT)), "per-head keys, layer norm, sigmoid gates");
            MultiLayerNetwork net = network(small().activation(FfnActivation.RELU).build(), true,
                    GradientChecks.doubleNetwork(21));
            INDArray mask = Nd4j.ones(DataType.DOUBLE, 3, 4);
            mask.getRow(1).assign(0);
            assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, 3, D, 4),
                    Nd4j.randn(DataType.DOUBLE, 3, N_OUT, 4), mask, mask), "3d with a mask, RELU");
        } finally {
            System.clearProperty(PeerPath.PROPERTY);
        }
    }

    @Test
    void gradientCheckEveryParameter2d() {
        for (QueryNorm norm : QueryNorm.values()) {
            MultiLayerNetwork net = network(small().queryNorm(norm).build());
            assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, 5, D),
                    Nd4j.randn(DataType.DOUBLE, 5, N_OUT)), norm.name());
        }
    }

    @Test
    void gradientCheckPerHeadKeysSigmoidGate() {
        MultiLayerNetwork net = network(small().sharedKeys(false).gate(PeerLayer.Gate.SIGMOID).build());
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, 5, D), Nd4j.randn(DataType.DOUBLE, 5, N_OUT)));
    }

    @Test
    void gradientCheck3dWithMask() {
        MultiLayerNetwork net = network(small().build(), true, GradientChecks.doubleNetwork(21));
        INDArray mask = Nd4j.ones(DataType.DOUBLE, 3, 4);
        mask.getRow(1).assign(0);
        mask.putScalar(2, 3, 0);
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, 3, D, 4),
                Nd4j.randn(DataType.DOUBLE, 3, N_OUT, 4), mask, mask));
    }

    @Test
    void gradientsReachQueriesBothKeySetsAndOnlyRetrievedTableRows() {
        MultiLayerNetwork net = network(small().queryNorm(QueryNorm.NONE).build());
        INDArray x = Nd4j.randn(DataType.DOUBLE, 3, D);
        var grads = net.calculateGradients(x, Nd4j.randn(DataType.DOUBLE, 3, N_OUT), null, null).getFirst();
        for (String key : new String[] {PeerLayer.W_QUERY, PeerLayer.SUB_KEYS_1, PeerLayer.SUB_KEYS_2}) {
            assertTrue(grads.getGradientFor("0_" + key).norm2Number().doubleValue() > 0, key);
        }
        INDArray retrieved = ((MoeLayerRuntime) net.getLayer(0)).statistics().get(PeerLayer.STAT_EXPERTS);
        java.util.Set<Integer> used = new java.util.HashSet<>();
        for (int id : retrieved.reshape(-1).toIntVector()) {
            used.add(id);
        }
        INDArray downGrad = grads.getGradientFor("0_" + PeerLayer.DOWN);
        for (int e = 0; e < 16; e++) {
            boolean nonZero = downGrad.getRow(e).norm2Number().doubleValue() > 0;
            assertEquals(used.contains(e), nonZero, "expert " + e + " gradient iff retrieved");
        }
    }

    @Test
    void sparseTableUpdatesEqualDenseAdamOnTheFirstStep() {
        NeuralNetConfiguration.Builder adam = GradientChecks.doubleNetwork(4).updater(new Adam(0.01));
        MultiLayerNetwork sparse = network(peer(64, 2, 3, 4).tableUpdates(TableUpdates.SPARSE).build(), false, adam);
        MultiLayerNetwork dense = network(peer(64, 2, 3, 4).tableUpdates(TableUpdates.DENSE).build(), false,
                GradientChecks.doubleNetwork(4).updater(new Adam(0.01)));
        dense.setParams(sparse.params());
        DataSet ds = new DataSet(Nd4j.randn(DataType.DOUBLE, 7, D), Nd4j.randn(DataType.DOUBLE, 7, N_OUT));
        INDArray before = sparse.getLayer(0).getParam(PeerLayer.DOWN).dup();
        sparse.fit(ds);
        dense.fit(ds);
        for (String key : sparse.getLayer(0).paramTable().keySet()) {
            INDArray a = sparse.getLayer(0).getParam(key);
            INDArray b = dense.getLayer(0).getParam(key);
            assertEquals(0.0, a.sub(b).amaxNumber().doubleValue(), 1e-12, key);
        }
        assertTrue(sparse.getLayer(0).getParam(PeerLayer.DOWN).sub(before).amaxNumber().doubleValue() > 0,
                "the sparse update moved the table");
    }

    @Test
    void jsonAndModelSerializerRoundTrips(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = network(peer(64, 2, 3, 4).candidates(5).sharedKeys(false).gate(PeerLayer.Gate.SIGMOID)
                .activation(FfnActivation.RELU).build(), true, GradientChecks.doubleNetwork(3));
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
        assertEquals(conf.getConf(0).getLayer(), back.getConf(0).getLayer());
        assertEquals(conf, back);
        net.fit(new DataSet(Nd4j.randn(DataType.DOUBLE, 4, D, 5), Nd4j.randn(DataType.DOUBLE, 4, N_OUT, 5)));
        File file = dir.resolve("peer.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 4, D, 5);
        assertEquals(net.params(), restored.params());
        assertEquals(net.output(x), restored.output(x));
    }

    @Test
    void invalidConfigsNameTheValueAndTheFix() {
        assertRejected(() -> peer(1000, 8, 16, 128).name("ffn3").nIn(D).build(), "PeerLayer(name=ffn3)", "numExperts",
                "perfect square", "got 1000", "try 961 or 1024");
        assertRejected(() -> peer(1024, 8, 16, 127).nIn(D).build(), "keySize", "even", "got 127", "try 128");
        assertRejected(() -> peer(1024, 8, 33, 128).nIn(D).build(), "topK", "sqrt(numExperts) = 32", "got 33");
        assertRejected(() -> peer(1024, 0, 16, 128).nIn(D).build(), "heads", "at least 1", "got 0");
        assertRejected(() -> peer(1024, 8, 16, 128).candidates(8).nIn(D).build(), "candidates", "got 8");
        assertRejected(() -> peer(1024, 8, 16, 128).activation(FfnActivation.SWIGLU).nIn(D).build(), "activation",
                "GELU");
        assertRejected(() -> peer(2, 1, 1, 2).nIn(D).build(), "numExperts", "got 2");
        assertRejected(() -> peer(1L << 26, 8, 16, 128).nIn(D).build(), "numExperts", "got 67108864");
        assertRejected(() -> peer(4096 * 4096L, 8, 16, 128).nIn(256).build(), "numExperts");
    }

}
