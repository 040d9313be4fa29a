package io.github.dl4jmoe.routing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.ops.transforms.Transforms;

/** The expert bias moves the selection of every rule, never the gates; its step signal and step rule. */
class ExpertBiasTest {

    private static final int E = 8;

    @BeforeEach
    void doublePrecision() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    private static Router[] routers() {
        return new Router[] {new TopKRouter(2), new TopKRouter(3, true), new TopPRouter(0.4),
            new TopPRouter(0.7, true, 3), new FineRRouter(2, 1, 2, 2)};
    }

    /** {selected, gates} of the graph rule on logits {@code [n, E]} with bias {@code [E]} (or none). */
    private static double[][][] graphRouting(Router router, double[][] logits, double[] bias) {
        SameDiff sd = SameDiff.create();
        SDVariable b = bias == null ? null : sd.constant(Nd4j.createFromArray(bias).reshape(1, bias.length));
        Routing routing = router.route(sd, sd.constant(Nd4j.createFromArray(logits)), b, logits[0].length);
        return new double[][][] {routing.selected().eval().toDoubleMatrix(), routing.gates().eval().toDoubleMatrix()};
    }

    private static double[] flat(double[][] rows) {
        return Arrays.stream(rows).flatMapToDouble(Arrays::stream).toArray();
    }

    @Test
    void topKSelectsByProbabilityPlusBiasAndGatesWithTheProbability() {
        double[][] p = {{0.4, 0.3, 0.2, 0.1}};
        double[][] logits = Transforms.log(Nd4j.createFromArray(p), true).toDoubleMatrix();
        double[][][] routed = graphRouting(new TopKRouter(2), logits, new double[] {0, 0, 0.15, 0});
        assertArrayEquals(new double[] {1, 0, 1, 0}, routed[0][0], "0.4 and 0.2 + 0.15 beat 0.3");
        assertArrayEquals(new double[] {0.4, 0, 0.2, 0}, routed[1][0], 1e-12, "gates are P, not P + b");
    }

    @Test
    void topPRanksByBiasedScoresButAccumulatesTheRouterProbabilities() {
        double[][] p = {{0.5, 0.3, 0.15, 0.05}};
        double[][] logits = Transforms.log(Nd4j.createFromArray(p), true).toDoubleMatrix();
        // ranking by P + b: expert 2 (0.55), then 0 (0.5), then 1 (0.3); mass ahead of each: 0, 0.15, 0.65
        double[][][] routed = graphRouting(new TopPRouter(0.4), logits, new double[] {0, 0, 0.4, 0});
        assertArrayEquals(new double[] {1, 0, 1, 0}, routed[0][0]);
        assertArrayEquals(new double[] {0.5, 0, 0.15, 0}, routed[1][0], 1e-12);
        assertArrayEquals(new double[] {0, 0, 1, 0},
                graphRouting(new TopPRouter(0.1), logits, new double[] {0, 0, 0.4, 0})[0][0],
                "0.15 of unbiased mass passes p = 0.1 at once");
    }

    @Test
    void fineRTakesBothMasksOnBiasedLogits() {
        // G_O = 1, R_O = 2 blocks of G_I R_I = 2; block sums 1.0 + 0.9 vs 0.5 + 0.2: block 0 wins, then its top 1
        double[][] logits = {{1.0, 0.9, 0.5, 0.2}};
        FineRRouter router = new FineRRouter(2, 1, 1, 2);
        assertArrayEquals(new double[] {1, 0, 0, 0}, graphRouting(router, logits, null)[0][0]);
        double[][][] routed = graphRouting(router, logits, new double[] {0, 0, 0.7, 0.7});
        assertArrayEquals(new double[] {0, 0, 1, 0}, routed[0][0], "biased block sums 1.9 < 2.1; then 1.2 > 0.9");
        assertArrayEquals(new double[] {0, 0, 1, 0}, routed[1][0], 1e-12, "a softmax over the one selected logit");
    }

    @Test
    void aUniformBiasChangesNothingAndAnyBiasLeavesGatesAsTheUnbiasedProbabilities() {
        Nd4j.getRandom().setSeed(7);
        double[][] logits = Nd4j.randn(DataType.DOUBLE, 32, E).toDoubleMatrix();
        double[] uniform = new double[E];
        Arrays.fill(uniform, 0.3);
        double[] bias = Nd4j.randn(DataType.DOUBLE, E).muli(0.2).toDoubleVector();
        for (Router router : routers()) {
            double[][][] plain = graphRouting(router, logits, null);
            double[][][] shifted = graphRouting(router, logits, uniform);
            assertArrayEquals(flat(plain[0]), flat(shifted[0]), router + ": selection");
            assertArrayEquals(flat(plain[1]), flat(shifted[1]), 1e-15, router + ": gates");

            double[][][] biased = graphRouting(router, logits, bias);
            assertNotEquals(Arrays.toString(flat(plain[0])), Arrays.toString(flat(biased[0])),
                    router + ": this bias should move some selection");
            double[] p = Transforms.softmax(Nd4j.createFromArray(logits), true).data().asDouble();
            double[] expected = router.gates(p, flat(biased[0]), E);
            assertArrayEquals(expected, flat(biased[1]), 1e-12, router + ": gates of the biased selection");
        }
    }

    @Test
    void eagerSelectionWithBiasEqualsTheGraph() {
        Nd4j.getRandom().setSeed(11);
        double[][] logits = Nd4j.randn(DataType.DOUBLE, 64, E).muli(2).toDoubleMatrix();
        double[] bias = Nd4j.randn(DataType.DOUBLE, E).muli(0.1).toDoubleVector();
        double[] flatLogits = flat(logits);
        double[] p = Transforms.softmax(Nd4j.createFromArray(logits), true).data().asDouble();
        for (Router router : routers()) {
            assertArrayEquals(flat(graphRouting(router, logits, bias)[0]), router.select(flatLogits, p, bias, E),
                    router.toString());
            assertArrayEquals(router.select(flatLogits, p, E), router.select(flatLogits, p, null, E),
                    router + ": a null bias is no bias");
        }
    }

    @Test
    void signalIsTheSignOfTheLoadErrorOnHostAndGraph() {
        double[][] selected = {{1, 0, 0, 1}, {1, 1, 0, 0}, {1, 0, 0, 1}};        // load 3, 1, 0, 2; mean 1.5
        double[] expected = {ExpertBias.SIGNAL, -ExpertBias.SIGNAL, -ExpertBias.SIGNAL, ExpertBias.SIGNAL};
        assertArrayEquals(expected, ExpertBias.signal(flat(selected), 4), 0.0);
        SameDiff sd = SameDiff.create();
        SDVariable load = sd.constant(Nd4j.createFromArray(selected)).sum(0);
        assertArrayEquals(expected, ExpertBias.signal(sd, load, 4).eval().toDoubleVector(), 0.0);
        assertArrayEquals(new double[2], ExpertBias.signal(new double[] {1, 0, 0, 1}, 2), 0.0,
                "equal loads: no step");
    }

    @Test
    void stepIsTheRateTimesTheSignWhateverScaleTheSignalWasGiven() {
        ExpertBiasStep step = new ExpertBiasStep(1e-3);
        GradientUpdater<?> updater = step.instantiate((INDArray) null, false);
        for (double scale : new double[] {1, 1e-9, 0.25 / 64}) {          // as is, clipped, divided by a minibatch
            INDArray gradient = Nd4j.createFromArray(1.0, -1.0, 0.0, 1.0).muli(ExpertBias.SIGNAL * scale);
            updater.applyUpdater(gradient, 0, 0);
            assertArrayEquals(new double[] {1e-3, -1e-3, 0, 1e-3}, gradient.toDoubleVector(), 0.0, "scale " + scale);
        }
        assertEquals(0, step.stateSize(10));
        assertEquals(step, step.clone());
        assertThrows(UnsupportedOperationException.class, () -> step.setLrAndSchedule(0.1, null));
    }
}
