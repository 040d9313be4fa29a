package io.github.dl4jmoe.experts;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.dl4jmoe.ops.HiddenActivation;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * A feed-forward block reuses its arrays from pass to pass, also when a pass has fewer rows than an earlier one (an
 * expert's block shrinks): the results equal a fresh block's and a plain computation's.
 */
class FeedForwardPassTest {

    private static final int D = 4;
    private static final int H = 6;

    @BeforeEach
    void doublePrecision() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        Nd4j.getRandom().setSeed(5);
    }

    @ParameterizedTest
    @EnumSource(HiddenActivation.class)
    void aBlockReusedWithFewerRowsEqualsAFreshOne(HiddenActivation activation) {
        FeedForwardPass.Weights w = FeedForwardPass.Weights.of(Nd4j.randn(DataType.DOUBLE, D, H),
                activation.isGated() ? Nd4j.randn(DataType.DOUBLE, D, H) : null, Nd4j.randn(DataType.DOUBLE, H, 3));
        FeedForwardPass reused = new FeedForwardPass();
        INDArray big = Nd4j.randn(DataType.DOUBLE, 9, D);
        FeedForwardPass.Forward first = reused.forward(w, activation, big);
        reused.backward(w, activation, first, Nd4j.randn(DataType.DOUBLE, 9, 3));

        INDArray x = Nd4j.randn(DataType.DOUBLE, 5, D);
        INDArray dy = Nd4j.randn(DataType.DOUBLE, 5, 3);
        FeedForwardPass.Forward f = reused.forward(w, activation, x);
        FeedForwardPass.Gradients g = reused.backward(w, activation, f, dy);
        FeedForwardPass fresh = new FeedForwardPass();
        FeedForwardPass.Forward ff = fresh.forward(w, activation, x);
        FeedForwardPass.Gradients fg = fresh.backward(w, activation, ff, dy);

        assertEquals(0, f.output().sub(ff.output()).amaxNumber().doubleValue(), 0.0, "output");
        assertEquals(0, g.input().sub(fg.input()).amaxNumber().doubleValue(), 0.0, "input gradient");
        assertEquals(0, g.up().sub(fg.up()).amaxNumber().doubleValue(), 0.0, "up gradient");
        assertEquals(0, g.down().sub(fg.down()).amaxNumber().doubleValue(), 0.0, "down gradient");
        assertEquals(0, f.output().sub(plain(w, activation, x)).amaxNumber().doubleValue(), 1e-12, "plain");
    }

    /** {@code act(x Wup [, x Wgate]) Wdown} with fresh arrays. */
    private static INDArray plain(FeedForwardPass.Weights w, HiddenActivation activation, INDArray x) {
        INDArray up = x.mmul(w.up());
        INDArray gate = w.gate() == null ? null : x.mmul(w.gate());
        INDArray hidden = switch (activation) {
            case RELU -> Transforms.relu(up, true);
            case TANH -> Transforms.tanh(up, true);
            case SILU -> up.mul(Transforms.sigmoid(up, true));
            case GELU -> up.mul(phi(up));
            case SWIGLU -> gate.mul(Transforms.sigmoid(gate, true)).mul(up);
            case GEGLU -> gate.mul(phi(gate)).mul(up);
        };
        return hidden.mmul(w.down());
    }

    private static INDArray phi(INDArray x) {
        double[] v = x.dup().data().asDouble();
        for (int i = 0; i < v.length; i++) {
            v[i] = 0.5 * (1 + org.apache.commons.math3.special.Erf.erf(v[i] / Math.sqrt(2)));
        }
        return Nd4j.createFromArray(v).reshape(x.shape());
    }
}
