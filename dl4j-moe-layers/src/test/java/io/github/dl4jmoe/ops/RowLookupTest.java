package io.github.dl4jmoe.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class RowLookupTest {

    private static final int ROWS = 6;
    private static final int WIDTH = 4;
    /** Repeated indices on purpose: gradients of repeated rows must accumulate. */
    private static final int[][] IDX_A = {{0, 2, 2}, {5, 0, 2}};
    private static final int[] IDX_B = {2, 3, 0, 0};

    @BeforeEach
    void doublePrecision() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @Test
    void forwardPicksRowsForIndicesOfAnyShape() {
        INDArray table = Nd4j.rand(DataType.DOUBLE, ROWS, WIDTH);
        SameDiff sd = SameDiff.create();
        SDVariable t = sd.var("table", table);
        SDVariable out = RowLookup.lookup(sd, t, sd.constant(Nd4j.createFromArray(IDX_A)));
        INDArray y = out.eval();
        assertArrayEquals(new long[] {2, 3, WIDTH}, y.shape());
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) {
                assertEquals(table.getRow(IDX_A[i][j]), y.get(
                        org.nd4j.linalg.indexing.NDArrayIndex.point(i), org.nd4j.linalg.indexing.NDArrayIndex.point(j),
                        org.nd4j.linalg.indexing.NDArrayIndex.all()));
            }
        }
    }

    @Test
    void gradientOfWeightedSumScattersAndAccumulates() {
        INDArray table = Nd4j.rand(DataType.DOUBLE, ROWS, WIDTH);
        INDArray weights = Nd4j.rand(DataType.DOUBLE, 2, 3, WIDTH);
        SameDiff sd = SameDiff.create();
        SDVariable t = sd.var("table", table);
        SDVariable rows = RowLookup.lookup(sd, t, sd.constant(Nd4j.createFromArray(IDX_A)));
        sd.setLossVariables(rows.mul(sd.constant(weights)).sum());
        INDArray grad = sd.calculateGradients(Map.of(), "table").get("table");

        INDArray expected = Nd4j.zeros(DataType.DOUBLE, ROWS, WIDTH);
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) {
                expected.getRow(IDX_A[i][j]).addi(weights.get(org.nd4j.linalg.indexing.NDArrayIndex.point(i),
                        org.nd4j.linalg.indexing.NDArrayIndex.point(j), org.nd4j.linalg.indexing.NDArrayIndex.all()));
            }
        }
        assertEquals(expected, grad);
    }

    /**
     * Three lookups sharing indices and tables in one graph, checked by central differences. With M2.1's own gather
     * backprop this graph fails ("Unable to replace samediff namespace"); if our op were silently replaced by the stock
     * one in the gradient clone, it would fail the same way.
     */
    @Test
    void threeLookupsSharingIndicesMatchFiniteDifferences() {
        Nd4j.getRandom().setSeed(3);
        INDArray table = Nd4j.rand(DataType.DOUBLE, ROWS, WIDTH).subi(0.5);
        INDArray other = Nd4j.rand(DataType.DOUBLE, ROWS, WIDTH).subi(0.5);
        SameDiff sd = SameDiff.create();
        SDVariable t = sd.var("table", table);
        SDVariable o = sd.var("other", other);
        SDVariable idxA = sd.constant(Nd4j.createFromArray(IDX_A));
        SDVariable idxB = sd.constant(Nd4j.createFromArray(IDX_B));
        SDVariable a = RowLookup.lookup(sd, t, idxA);                         // [2, 3, W]
        SDVariable b = RowLookup.lookup(sd, t, idxB);                         // [4, W]
        SDVariable c = RowLookup.lookup(sd, o, idxA);                         // [2, 3, W]
        SDVariable loss = sd.math.tanh(a.mul(c)).sum().add(b.mul(b).mul(b).sum()).add(sd.math.sin(c).sum());
        sd.setLossVariables(loss);

        Map<String, INDArray> grads = sd.calculateGradients(Map.of(), "table", "other");
        for (String name : new String[] {"table", "other"}) {
            INDArray param = sd.getVariable(name).getArr();
            INDArray analytic = grads.get(name);
            double eps = 1e-6;
            for (int i = 0; i < param.length(); i++) {
                double orig = param.getDouble(i);
                param.putScalar(i, orig + eps);
                double plus = loss.eval().getDouble(0);
                param.putScalar(i, orig - eps);
                double minus = loss.eval().getDouble(0);
                param.putScalar(i, orig);
                double numeric = (plus - minus) / (2 * eps);
                assertEquals(numeric, analytic.getDouble(i), 1e-8, name + "[" + i + "]");
            }
        }
        boolean ourOpInGradientGraph = false;
        for (SameDiffOp op : sd.getFunction("grad").getOps().values()) {
            ourOpInGradientGraph |= op.getOp() instanceof RowLookup.Op;
        }
        assertTrue(ourOpInGradientGraph, "the gradient graph's clone must keep RowLookup.Op");
    }

    @Test
    void rejectsTablesWithoutStaticShapeAndNonIntegerIndices() {
        SameDiff sd = SameDiff.create();
        SDVariable table = sd.var("table", Nd4j.rand(DataType.DOUBLE, ROWS, WIDTH));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> RowLookup.lookup(sd, table, sd.constant(Nd4j.createFromArray(1.0, 2.0))));
        assertTrue(e.getMessage().contains("indices must be an integer type"), e.getMessage());
        SDVariable rank3 = sd.var("cube", Nd4j.rand(DataType.DOUBLE, 2, 2, 2));
        e = assertThrows(IllegalArgumentException.class,
                () -> RowLookup.lookup(sd, rank3, sd.constant(Nd4j.createFromArray(1, 0))));
        assertTrue(e.getMessage().contains("rank 2"), e.getMessage());
    }
}
