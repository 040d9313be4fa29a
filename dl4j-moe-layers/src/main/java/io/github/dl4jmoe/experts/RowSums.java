package io.github.dl4jmoe.experts;

import java.lang.ref.Reference;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.stream.IntStream;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code out[target[i]] += rows[i]}: the gradient of a row gather, summed in plain Java. On M2.1 the native
 * {@code unsorted_segment_sum} took over a second for 131,072 rows of width 64 into 32 segments (the PEER sub-key
 * gradient), the sorted {@code segment_sum} 2.3 s for 131,072 rows of width 256, and {@code scatter_add} races on
 * duplicate indices; this is one sort plus a linear pass, exact and deterministic.
 */
public final class RowSums {

    private RowSums() {
    }

    /**
     * @param rows    {@code [R, width]}
     * @param target  for each row, its output row in {@code [0, outRows)}
     * @return {@code [outRows, width]} of {@code rows}' data type
     */
    public static INDArray sum(INDArray rows, int[] target, int outRows) {
        int width = (int) rows.size(rows.rank() - 1);
        if (rows.length() != (long) target.length * width) {
            throw new IllegalArgumentException("RowSums: " + target.length + " targets for rows of shape "
                    + java.util.Arrays.toString(rows.shape()));
        }
        INDArray dense = denseRowMajor(rows);
        if (rows.dataType() == DataType.FLOAT) {
            INDArray result = Nd4j.zeros(DataType.FLOAT, outRows, width);
            FloatBuffer in = dense.data().asNioFloat();
            FloatBuffer out = result.data().asNioFloat();
            long[] order = new long[target.length];           // (target, row) pairs sorted: rows grouped by target
            for (int i = 0; i < target.length; i++) {
                order[i] = ((long) target[i] << 32) | i;
            }
            Arrays.sort(order);
            int split = groupBoundaryNear(order, order.length / 2);
            IntStream.of(0, 1).parallel().forEach(part -> {
                int from = part == 0 ? 0 : split;
                int to = part == 0 ? split : order.length;
                float[] src = new float[width];
                float[] acc = new float[width];
                for (int p = from; p < to; ) {
                    int group = (int) (order[p] >>> 32);
                    Arrays.fill(acc, 0f);
                    for (; p < to && (int) (order[p] >>> 32) == group; p++) {
                        in.get((int) order[p] * width, src, 0, width);   // one bulk read per row, no ND4J access
                        for (int j = 0; j < width; j++) {
                            acc[j] += src[j];
                        }
                    }
                    out.put(group * width, acc, 0, width);
                }
            });
            Reference.reachabilityFence(dense);                // the NIO views do not keep the arrays alive
            return result;
        }
        INDArray doubles = dense.castTo(DataType.DOUBLE);
        double[] in = new double[(int) rows.length()];
        doubles.data().asNioDouble().get(in);
        Reference.reachabilityFence(doubles);
        double[] out = new double[outRows * width];
        for (int i = 0; i < target.length; i++) {
            int src = i * width;
            int dst = target[i] * width;
            for (int j = 0; j < width; j++) {
                out[dst + j] += in[src + j];
            }
        }
        INDArray result = Nd4j.createUninitialized(DataType.DOUBLE, outRows, width);
        result.data().asNioDouble().put(out);
        return result.castTo(rows.dataType());
    }

    /** The first position at or after {@code p} that starts a new target group (so halves never share a row). */
    private static int groupBoundaryNear(long[] order, int p) {
        while (p > 0 && p < order.length && (order[p] >>> 32) == (order[p - 1] >>> 32)) {
            p++;
        }
        return p;
    }

    /** {@code a} itself when its buffer holds exactly its elements in row-major order, else a row-major copy. */
    private static INDArray denseRowMajor(INDArray a) {
        boolean exact = a.ordering() == 'c' && Shape.hasDefaultStridesForShape(a) && a.offset() == 0
                && a.data().length() == a.length();
        return exact ? a : a.dup('c');
    }
}
