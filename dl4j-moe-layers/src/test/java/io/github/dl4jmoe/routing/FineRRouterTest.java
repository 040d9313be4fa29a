package io.github.dl4jmoe.routing;

import static io.github.dl4jmoe.testutil.ConfigAssertions.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class FineRRouterTest {

    @BeforeEach
    void doublePrecision() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @Test
    void selectionFollowsTheAuthorsRuleOnHandMadeLogitsWithTies() {
        FineRRouter router = new FineRRouter(3, 2, 2, 2);                  // blocks of 3, G_O = R_O = 2, E = 12
        double[][] logits = {
                {3, 1, 2, /**/ 0, 0, 0, /**/ 5, 5, 5, /**/ 1, 1, 1},        // ties inside a block
                {1, 1, 1, /**/ 1, 1, 1, /**/ 0, 2, 0, /**/ 2, 0, 0},        // tied block sums: lower r_o wins
                {-1, -2, -3, /**/ -1, -2, -2, /**/ 9, -9, 0, /**/ 0, 0, 0.5}};
        SameDiff sd = SameDiff.create();
        Routing routing = router.route(sd, sd.constant(Nd4j.createFromArray(logits)), router.numExperts());
        double[][] actual = routing.selected().eval().toDoubleMatrix();
        double[][] gates = routing.gates().eval().toDoubleMatrix();
        for (int t = 0; t < logits.length; t++) {
            assertArrayEquals(ReferenceRouting.fineR(logits[t], 2, 2, 3, 2), actual[t], "token " + t);
            assertEquals(4.0, Arrays.stream(actual[t]).sum(), 0.0, "k = T_I G_O");
            double[] expected = softmaxOverSelected(logits[t], actual[t]);
            assertArrayEquals(expected, gates[t], 1e-12, "gates: softmax over the selected logits, token " + t);
        }
        assertArrayEquals(new double[] {1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0}, actual[0]);
    }

    /** {@code exp(l_i) / sum_{j selected} exp(l_j)} on the selected experts, 0 elsewhere. */
    private static double[] softmaxOverSelected(double[] logits, double[] selected) {
        double[] out = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            out[i] = selected[i] * Math.exp(logits[i]);
            sum += out[i];
        }
        for (int i = 0; i < logits.length; i++) {
            out[i] /= sum;
        }
        return out;
    }

    @Test
    void rejectsBlocksThatDoNotFitTheLayer() {
        assertRejected(() -> new FineRRouter(4, 1, 2, 2).validate("MoeFeedForward(name=m)", 8),
                "MoeFeedForward(name=m)", "router experts (G_O R_O G_I R_I)", "got 16", "numExperts = 8");
        assertRejected(() -> new FineRRouter(4, 5, 2, 2).validate("L", 16), "topInput (T_I)", "got 5", "G_I R_I = 4");
        assertRejected(() -> new FineRRouter(0, 1, 2, 2).validate("L", 0), "G_I R_I = 0");
        FineRRouter notRenormalised = new FineRRouter(4, 1, 2, 2);
        notRenormalised.setRenormalize(false);
        assertRejected(() -> notRenormalised.validate("L", 16), "renormalize", "got false");
    }
}
