package io.github.dl4jmoe.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Top-k along the last dimension, exact with ties: among equal values the lower index ranks first (as a stable sort
 * would order them).
 *
 * <p>Why not the native op: M2.1's {@code sd.nn.topK(x, k, sorted)} passes its integer arguments as
 * {@code [sorted, k]} while libnd4j reads k first, so every k yields one column; and even with the arguments fixed,
 * the native {@code top_k} returns repeated indices and wrong values when the input has ties (seen here: row
 * {@code [1, 3, 3, 2, 3, 0]}, k = 2 gives {@code [3, 2]}). The graph version below takes k arg-max passes, masking each
 * winner out before the next; it costs O(k n) per row, which is what routers (n = number of experts) need.
 *
 * <p>Values are {@code sum(x * oneHot(index))}, so they are differentiable with respect to {@code x}; indices carry no
 * gradient. Inputs must be finite with magnitude below {@value #MASKED}.
 */
public final class TopK {

    /** A winner is replaced by {@code -MASKED} before the next pass; inputs must stay below this magnitude. */
    static final double MASKED = 1e30;

    private TopK() {
    }

    /**
     * Graph top-k.
     *
     * @param x     input {@code [rows, n]} (reshape higher ranks to rows first)
     * @param k     number of entries to keep, {@code 1 <= k <= n}
     * @param width n (SameDiff does not always know op output shapes when a graph is defined)
     * @return {@code {values [rows, k] (x's type, differentiable), indices [rows, k] (INT64)}}, values descending
     */
    public static SDVariable[] topK(SameDiff sd, SDVariable x, int k, long width) {
        int axis = 1;
        List<SDVariable> values = new ArrayList<>(k);
        List<SDVariable> indices = new ArrayList<>(k);
        for (Pass pass : passes(sd, x, k, width)) {
            values.add(x.mul(pass.hit()).sum(true, axis));                        // [rows, 1]
            indices.add(sd.expandDims(pass.index(), axis));                       // [rows, 1]
        }
        return new SDVariable[] {concat(sd, axis, values), concat(sd, axis, indices)};
    }

    /**
     * The top-k positions of {@code x [rows, n]} as a 0/1 mask of {@code x}'s type, {@code [rows, n]}: 1 where an
     * entry is among the k largest of its row. Carries no gradient.
     */
    public static SDVariable mask(SameDiff sd, SDVariable x, int k, long width) {
        if (k == width) {
            checkK(k, (int) width);
            return sd.onesLike(x);  // also avoids arg-max along a dimension of size 1, which fails on M2.1
        }
        SDVariable mask = null;
        for (Pass pass : passes(sd, x, k, width)) {
            mask = mask == null ? pass.hit() : mask.add(pass.hit());
        }
        return mask;
    }

    /** One arg-max pass: the winner's index {@code [rows]} and its one-hot {@code [rows, n]}. */
    private record Pass(SDVariable index, SDVariable hit) {
    }

    private static List<Pass> passes(SameDiff sd, SDVariable x, int k, long width) {
        int axis = 1;
        int n = (int) width;
        checkK(k, n);
        List<Pass> passes = new ArrayList<>(k);
        SDVariable remaining = x;
        for (int j = 0; j < k; j++) {
            SDVariable index = sd.argmax(remaining, false, axis);                  // [rows]
            SDVariable hit = sd.oneHot(index, n, -1, 1.0, 0.0, x.dataType());      // [rows, n]
            passes.add(new Pass(index, hit));
            if (j + 1 < k) {
                // winners drop to -MASKED, everything else is kept: min(remaining, MASKED - 2 MASKED hit)
                remaining = sd.math.min(remaining, hit.mul(-2 * MASKED).add(MASKED));
            }
        }
        return passes;
    }

    /**
     * Eager top-k on an {@link INDArray} (for code outside a graph: tests, statistics), with the same tie rule.
     *
     * @param x input {@code [rows, n]}
     * @return {@code {values [rows, k] (x's type), indices [rows, k] (INT64)}}, values descending
     */
    public static INDArray[] topK(INDArray x, int k) {
        if (x.rank() != 2) {
            throw new IllegalArgumentException("TopK: eager input must be [rows, n], got "
                    + Arrays.toString(x.shape()));
        }
        int rows = (int) x.size(0);
        int n = (int) x.size(1);
        checkK(k, n);
        INDArray values = Nd4j.create(x.dataType(), rows, k);
        INDArray indices = Nd4j.create(DataType.INT64, rows, k);
        for (int r = 0; r < rows; r++) {
            double[] row = x.getRow(r).toDoubleVector();
            int[] order = IntStream.range(0, n).boxed()
                    .sorted(Comparator.comparingDouble((Integer i) -> -row[i]))  // stable: ties keep index order
                    .mapToInt(Integer::intValue).toArray();
            for (int j = 0; j < k; j++) {
                values.putScalar(r, j, row[order[j]]);
                indices.putScalar(r, j, order[j]);
            }
        }
        return new INDArray[] {values, indices};
    }

    private static void checkK(int k, int n) {
        if (k < 1 || k > n) {
            throw new IllegalArgumentException("TopK: k must be in [1, " + n + "] for an input of width " + n
                    + ", got " + k);
        }
    }

    private static SDVariable concat(SameDiff sd, int axis, List<SDVariable> parts) {
        return parts.size() == 1 ? parts.get(0) : sd.concat(axis, parts.toArray(new SDVariable[0]));
    }
}
