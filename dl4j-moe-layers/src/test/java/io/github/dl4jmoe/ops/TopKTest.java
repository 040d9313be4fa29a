package io.github.dl4jmoe.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class TopKTest {

    @Test
    void eagerTopKMatchesSortForEveryK() {
        Nd4j.getRandom().setSeed(7);
        INDArray x = Nd4j.rand(DataType.FLOAT, 5, 9);
        for (int k = 1; k <= 9; k++) {
            INDArray[] vi = TopK.topK(x, k);
            assertMatchesSort(x, vi[0], vi[1], k);
        }
    }

    @Test
    void tiesGiveTheSortedValuesAndDistinctIndices() {
        INDArray x = Nd4j.createFromArray(new float[][] {
                {1, 3, 3, 2, 3, 0},
                {5, 5, 5, 5, 5, 5},
                {0, -1, 0, -1, 0, 2}});
        for (int k = 1; k <= 6; k++) {
            INDArray[] vi = TopK.topK(x, k);
            assertMatchesSort(x, vi[0], vi[1], k);
        }
    }

    @Test
    void graphTopKMatchesSortForEveryK() {
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 7);
        for (int k = 1; k <= 7; k++) {
            SameDiff sd = SameDiff.create();
            SDVariable in = sd.placeHolder("x", DataType.FLOAT, -1, 7);
            SDVariable[] vi = TopK.topK(sd, in, k, 7);
            Map<String, INDArray> out = sd.output(Map.of("x", x), vi[0].name(), vi[1].name());
            assertMatchesSort(x, out.get(vi[0].name()), out.get(vi[1].name()), k);
        }
    }

    @Test
    void graphTopKHandlesTies() {
        INDArray x = Nd4j.createFromArray(new float[][] {{1, 3, 3, 2, 3, 0}, {5, 5, 5, 5, 5, 5},
                {0, -1, 0, -1, 0, 2}, {4, 1, 4, 1, 4, 1}});
        for (int k = 1; k <= 6; k++) {
            SameDiff sd = SameDiff.create();
            SDVariable in = sd.placeHolder("x", DataType.FLOAT, -1, 6);
            SDVariable[] vi = TopK.topK(sd, in, k, 6);
            Map<String, INDArray> out = sd.output(Map.of("x", x), vi[0].name(), vi[1].name());
            assertMatchesSort(x, out.get(vi[0].name()), out.get(vi[1].name()), k);
        }
    }

    @Test
    void maskMarksTheTopK() {
        INDArray x = Nd4j.createFromArray(new double[][] {{1, 3, 3, 2, 3, 0}, {0.5, 0.1, 0.9, 0.2, 0.3, 0.4}});
        SameDiff sd = SameDiff.create();
        INDArray mask = TopK.mask(sd, sd.constant(x), 2, 6).eval();
        assertEquals(Nd4j.createFromArray(new double[][] {{0, 1, 1, 0, 0, 0}, {1, 0, 1, 0, 0, 0}}), mask);
    }

    @Test
    void tiesRankLowerIndexFirstInBothVersions() {
        INDArray x = Nd4j.createFromArray(new double[][] {{1, 3, 3, 2, 3, 0}});
        long[] expected = {1, 2, 4, 3};
        assertArrayEquals(expected, TopK.topK(x, 4)[1].toLongVector());
        SameDiff sd = SameDiff.create();
        SDVariable[] vi = TopK.topK(sd, sd.constant(x), 4, 6);
        assertArrayEquals(expected, vi[1].eval().toLongVector());
    }

    @Test
    void graphValuesAreDifferentiable() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", Nd4j.createFromArray(new double[][] {{0.1, 0.9, 0.5, 0.7}}));
        SDVariable[] vi = TopK.topK(sd, x, 2, 4);
        sd.setLossVariables(vi[0].mul(sd.constant(Nd4j.createFromArray(new double[][] {{2.0, 3.0}}))).sum());
        INDArray grad = sd.calculateGradients(Map.of(), "x").get("x");
        assertEquals(Nd4j.createFromArray(new double[][] {{0, 2, 0, 3}}), grad);
    }

    /**
     * Documents the M2.1 bugs {@link TopK} avoids: the stock op ignores k, and the native op gets ties wrong even with
     * its arguments fixed. If this starts failing, the native op was fixed and could be used again.
     */
    @Test
    void stockTopKIgnoresKAndNativeTopKMishandlesTies() {
        SameDiff sd = SameDiff.create();
        SDVariable in = sd.placeHolder("x", DataType.FLOAT, -1, 7);
        SDVariable[] vi = sd.nn.topK(in, 3, true);
        INDArray values = sd.output(Map.of("x", Nd4j.rand(DataType.FLOAT, 2, 7)), vi[0].name()).get(vi[0].name());
        assertEquals(1, values.size(1));

        INDArray ties = Nd4j.createFromArray(new float[][] {{1, 3, 3, 2, 3, 0}});
        INDArray[] nativeOut = Nd4j.exec(org.nd4j.linalg.api.ops.DynamicCustomOp.builder("top_k")
                .addInputs(ties).addIntegerArguments(2).addBooleanArguments(true).build());
        assertEquals(2.0f, nativeOut[0].getFloat(0, 1), 0f, "native top_k: second value should be 3");
    }

    @Test
    void rejectsKOutsideTheWidth() {
        INDArray x = Nd4j.rand(DataType.FLOAT, 2, 4);
        IllegalArgumentException tooBig = assertThrows(IllegalArgumentException.class, () -> TopK.topK(x, 5));
        assertTrue(tooBig.getMessage().contains("k must be in [1, 4]") && tooBig.getMessage().contains("got 5"),
                tooBig.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TopK.topK(x, 0));
        SameDiff sd = SameDiff.create();
        assertThrows(IllegalArgumentException.class,
                () -> TopK.topK(sd, sd.placeHolder("x", DataType.FLOAT, -1, 4), 0, 4));
    }

    private static void assertMatchesSort(INDArray x, INDArray values, INDArray indices, int k) {
        assertArrayEquals(new long[] {x.size(0), k}, values.shape(), "values shape for k=" + k);
        assertArrayEquals(new long[] {x.size(0), k}, indices.shape(), "indices shape for k=" + k);
        for (int r = 0; r < x.size(0); r++) {
            float[] row = x.getRow(r).toFloatVector();
            float[] sorted = row.clone();
            Arrays.sort(sorted);
            Set<Integer> seen = new HashSet<>();
            for (int j = 0; j < k; j++) {
                float expected = sorted[sorted.length - 1 - j];
                int idx = (int) indices.getLong(r, j);
                assertEquals(expected, values.getFloat(r, j), 0f, "row " + r + " rank " + j + " k=" + k);
                assertEquals(expected, row[idx], 0f, "index points at the value, row " + r + " rank " + j);
                assertTrue(seen.add(idx), "indices distinct in row " + r + " for k=" + k);
            }
        }
    }
}
