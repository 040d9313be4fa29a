package io.github.dl4jmoe.routing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

class RouterTest {

    @BeforeEach
    void doublePrecision() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    /** Runs the graph rule on probability rows (fed as logits log p, so softmax gives p back). */
    private static Routing routeOnGraph(SameDiff sd, Router router, double[][] probabilities) {
        INDArray logits = Transforms.log(Nd4j.createFromArray(probabilities), true);
        return router.route(sd, sd.constant(logits), probabilities[0].length);
    }

    private static double[][] selected(Router router, double[][] probabilities) {
        SameDiff sd = SameDiff.create();
        return routeOnGraph(sd, router, probabilities).selected().eval().toDoubleMatrix();
    }

    @Test
    void topPKeepsExpertsUntilCumulativeProbabilityFirstExceedsP() {
        double[][] p = {{0.1, 0.5, 0.25, 0.15}};
        assertArrayEquals(new double[] {0, 1, 0, 0}, selected(new TopPRouter(0.4), p)[0]);   // 0.5 > 0.4 at once
        assertArrayEquals(new double[] {0, 1, 1, 0}, selected(new TopPRouter(0.6), p)[0]);   // 0.5, then 0.75
        assertArrayEquals(new double[] {0, 1, 1, 1}, selected(new TopPRouter(0.8), p)[0]);   // 0.5, 0.75, 0.9
    }

    @Test
    void topPWithOneDominantExpertPicksOne() {
        assertArrayEquals(new double[] {0, 0, 1, 0, 0},
                selected(new TopPRouter(0.4), new double[][] {{0.01, 0.02, 0.94, 0.02, 0.01}})[0]);
        assertArrayEquals(new double[] {0, 0, 1, 0, 0},
                selected(new TopPRouter(0.9), new double[][] {{0.01, 0.02, 0.94, 0.02, 0.01}})[0]);
    }

    @Test
    void topPOnUniformProbabilitiesTakesCeilOfPTimesE() {
        double[][] uniform = {{0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125}};
        // cumulative 0.125, 0.25, 0.375, 0.5: first exceeds 0.4 at the 4th expert; ties go to lower indices
        assertArrayEquals(new double[] {1, 1, 1, 1, 0, 0, 0, 0}, selected(new TopPRouter(0.4), uniform)[0]);
    }

    @Test
    void topPWithTiesFollowsIndexOrder() {
        double[][] p = {{0.3, 0.3, 0.3, 0.1}};
        assertArrayEquals(new double[] {1, 1, 0, 0}, selected(new TopPRouter(0.4), p)[0]);
        double[][] p2 = {{0.1, 0.3, 0.3, 0.3}};
        assertArrayEquals(new double[] {0, 1, 0, 0}, selected(new TopPRouter(0.25), p2)[0]);
    }

    @Test
    void topPOfOneKeepsEveryExpertWithNonZeroProbabilityAndTinyPKeepsOne() {
        double[][] p = {{0.1, 0.5, 0.25, 0.15}, {0.7, 0.1, 0.1, 0.1}};
        double[][] all = selected(new TopPRouter(1.0), p);
        assertArrayEquals(new double[] {1, 1, 1, 1}, all[0]);
        assertArrayEquals(new double[] {1, 1, 1, 1}, all[1]);
        double[][] one = selected(new TopPRouter(1e-9), p);
        assertArrayEquals(new double[] {0, 1, 0, 0}, one[0]);
        assertArrayEquals(new double[] {1, 0, 0, 0}, one[1]);
    }

    @Test
    void topPCapLimitsExpertsPerToken() {
        double[][] uniform = {{0.25, 0.25, 0.25, 0.25}};
        assertArrayEquals(new double[] {1, 1, 0, 0}, selected(new TopPRouter(0.9, false, 2), uniform)[0]);
    }

    @Test
    void topKWithTiesPicksLowerIndices() {
        double[][] p = {{0.2, 0.3, 0.3, 0.2}, {0.25, 0.25, 0.25, 0.25}};
        double[][] s = selected(new TopKRouter(2), p);
        assertArrayEquals(new double[] {0, 1, 1, 0}, s[0]);
        assertArrayEquals(new double[] {1, 1, 0, 0}, s[1]);
    }

    @Test
    void graphRulesMatchReferenceOnRandomProbabilities() {
        Nd4j.getRandom().setSeed(5);
        double[][] p = Transforms.softmax(Nd4j.randn(DataType.DOUBLE, 64, 8).muli(2), true).toDoubleMatrix();
        Router[] routers = {new TopKRouter(1), new TopKRouter(3, true), new TopPRouter(0.4),
                new TopPRouter(0.7, true, 3), new TopPRouter(1.0)};
        for (Router r : routers) {
            SameDiff sd = SameDiff.create();
            Routing routing = routeOnGraph(sd, r, p);
            double[][] s = routing.selected().eval().toDoubleMatrix();
            double[][] g = routing.gates().eval().toDoubleMatrix();
            for (int t = 0; t < p.length; t++) {
                assertArrayEquals(ReferenceRouting.select(r, p[t]), s[t], r + " token " + t);
                assertArrayEquals(ReferenceRouting.gates(r, p[t]), g[t], 1e-12, r + " token " + t);
            }
        }
    }

    @Test
    void invalidRoutersNameFieldValueAndFix() {
        DL4JInvalidConfigException e = assertThrows(DL4JInvalidConfigException.class,
                () -> new TopKRouter(5).validate("L(name=moe)", 4));
        assertTrue(e.getMessage().startsWith("L(name=moe): router k") && e.getMessage().contains("got 5"),
                e.getMessage());
        for (double bad : new double[] {0.0, -0.1, 1.5, Double.NaN}) {
            e = assertThrows(DL4JInvalidConfigException.class, () -> new TopPRouter(bad).validate("L", 4));
            assertTrue(e.getMessage().contains("router p must be in (0, 1]") && e.getMessage().contains("got " + bad),
                    e.getMessage());
        }
        e = assertThrows(DL4JInvalidConfigException.class, () -> new TopPRouter(0.4, false, 9).validate("L", 4));
        assertTrue(e.getMessage().contains("maxExperts") && e.getMessage().contains("got 9"), e.getMessage());
        assertThrows(DL4JInvalidConfigException.class, () -> new TopKRouter(0).validate("L", 4));
    }

    @Test
    void entropyLossEqualsDefinition() {
        SameDiff sd = SameDiff.create();
        INDArray logits = Nd4j.createFromArray(new double[][] {{0.1, 2.0, -1.0}, {0, 0, 0}});
        var l = sd.constant(logits);
        double h = AuxiliaryLosses.entropy(sd, l, sd.nn.softmax(l, 1)).eval().getDouble(0);
        double[][] p = Transforms.softmax(logits, true).toDoubleMatrix();
        double expected = 0;
        for (double[] row : p) {
            for (double v : row) {
                expected -= v * Math.log(v) / p.length;
            }
        }
        assertEquals(expected, h, 1e-12);
    }
}
