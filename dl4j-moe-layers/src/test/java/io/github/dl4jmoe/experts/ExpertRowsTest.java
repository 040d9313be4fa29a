package io.github.dl4jmoe.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.ops.HiddenActivation;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * {@link ExpertRows} in double precision on enough rows to split the experts over threads (each thread's products and
 * its share of the activation): the output against each expert's block computed alone with ND4J, and every gradient
 * on 2 and 3 threads against 1, with an expert that gets no rows (its table gradients must be zero).
 */
class ExpertRowsTest {

    private static final int D = 6;
    private static final int H = 4;
    private static final int W = 5;
    /** Rows per expert, the third one empty: more than {@link ExpertRows#MIN_ROWS_PER_THREAD} per thread. */
    private static final int[] ROWS = {300, 410, 0, 280, 350};

    @AfterEach
    void defaults() {
        System.clearProperty(Parallelism.PROPERTY);
    }

    private static int[] starts() {
        int[] starts = new int[ROWS.length + 1];
        for (int e = 0; e < ROWS.length; e++) {
            starts[e + 1] = starts[e] + ROWS[e];
        }
        return starts;
    }

    /** Output, input gradient and the three table gradients of one pass on {@code threads} threads, flattened. */
    private static INDArray pass(HiddenActivation activation, ExpertRows.Tables tables, INDArray x, INDArray dOut,
                                 int threads) {
        System.setProperty(Parallelism.PROPERTY, String.valueOf(threads));
        ExpertRows rows = new ExpertRows();
        ExpertRows.Forward f = rows.forward(tables, activation, x, starts());
        ExpertRows.Gradients g = rows.backward(tables, activation, f, dOut, null);
        return g.gate() == null ? Nd4j.toFlattened(f.output(), g.input(), g.up(), g.down())
                : Nd4j.toFlattened(f.output(), g.input(), g.up(), g.gate(), g.down());
    }

    @ParameterizedTest
    @EnumSource(value = HiddenActivation.class, names = {"SWIGLU", "GELU"})
    void threadsGiveTheResultsOfOneAndEachExpertItsOwnBlock(HiddenActivation activation) {
        Nd4j.getRandom().setSeed(4);
        int e = ROWS.length;
        int p = starts()[e];
        ExpertRows.Tables tables = new ExpertRows.Tables(Nd4j.randn(DataType.DOUBLE, e, D, H),
                activation.isGated() ? Nd4j.randn(DataType.DOUBLE, e, D, H) : null,
                Nd4j.randn(DataType.DOUBLE, e, H, W));
        INDArray x = Nd4j.randn(DataType.DOUBLE, p, D);
        INDArray dOut = Nd4j.randn(DataType.DOUBLE, p, W);

        INDArray one = pass(activation, tables, x, dOut, 1);
        for (int threads : new int[] {2, 3}) {
            assertArrayEquals(one.toDoubleVector(), pass(activation, tables, x, dOut, threads).toDoubleVector(),
                    1e-12, threads + " threads");
        }

        int[] starts = starts();
        INDArray output = one.get(NDArrayIndex.interval(0, (long) p * W)).reshape(p, W);
        for (int expert = 0; expert < e; expert++) {
            if (ROWS[expert] == 0) {
                continue;
            }
            INDArray in = x.get(NDArrayIndex.interval(starts[expert], starts[expert + 1]), NDArrayIndex.all());
            INDArray up = in.mmul(tables.up().slice(expert));
            INDArray hidden = activation.isGated()
                    ? up.mul(Transforms.sigmoid(in.mmul(tables.gate().slice(expert)), true)
                            .muli(in.mmul(tables.gate().slice(expert))))
                    : up.mul(Nd4j.exec(new Erf(up.div(Math.sqrt(2)))).addi(1).muli(0.5));
            INDArray expected = hidden.mmul(tables.down().slice(expert));
            INDArray actual = output.get(NDArrayIndex.interval(starts[expert], starts[expert + 1]),
                    NDArrayIndex.all());
            assertEquals(0.0, expected.sub(actual).amaxNumber().doubleValue(), 1e-10, "expert " + expert);
        }
        long tableGradientsStart = (long) p * W + (long) p * D;
        INDArray dUp = one.get(NDArrayIndex.interval(tableGradientsStart, tableGradientsStart + (long) e * D * H))
                .reshape(e, D, H);
        assertEquals(0.0, dUp.slice(2).amaxNumber().doubleValue(), "the empty expert's gradient is zero");
        assertTrue(dUp.slice(1).amaxNumber().doubleValue() > 0);
    }
}
