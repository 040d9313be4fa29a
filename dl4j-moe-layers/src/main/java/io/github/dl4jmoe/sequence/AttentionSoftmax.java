package io.github.dl4jmoe.sequence;

import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.RowBlocks;
import io.github.dl4jmoe.host.RowBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The attention weights' softmax and its backward pass on the CPU backend, as Java loops over rows of the
 * {@code [mb h, T, T]} scores split over {@link Parallelism#threads()} threads; {@link AttentionFunction} takes the
 * portable ND4J operations on other backends and for other data types ({@link #serves}). Per row (pair b h, query t):
 * <pre>
 *   a_tu = exp(s_tu / sqrt(dh) - max) / sum_u' exp(...)   over the keys u that query t may see, 0 for the others
 *   ds_tu = a_tu (da_tu - sum_u' a_tu' da_tu') / sqrt(dh)
 * </pre>
 * Query t of example b may see key u when u &lt;= t and the mask marks u real; a masked query sees every key, as the
 * portable path, whose additive bias leaves a masked query's scores alone (its output is zeroed afterwards). This
 * replaces ND4J's scale, bias add and softmax, three passes of which the softmax alone took about a tenth of a training
 * step of MoETransformerLM.
 */
final class AttentionSoftmax {

    /** Below this many scores the rows are computed in the calling thread alone. */
    private static final int MIN_PARALLEL = 1 << 14;

    private AttentionSoftmax() {
    }

    /** Whether this path serves arrays of {@code type} in this JVM: FLOAT or DOUBLE on the CPU path. */
    static boolean serves(DataType type) {
        return RowBlocks.rawPath() && (type == DataType.FLOAT || type == DataType.DOUBLE);
    }

    /**
     * Overwrites {@code scores} with the attention weights.
     *
     * @param scores c-order {@code [mb h, T, T]}, {@code q k^T} unscaled
     * @param mask   {@code [mb T]}: 0 marks a padded step
     */
    static void forward(INDArray scores, double[] mask, int heads, double scale) {
        int steps = (int) scores.size(2);
        INDArray rows = scores.reshape('c', scores.size(0) * steps, steps);
        eachRow(rows, (buffer, from, to) -> {
            double[] row = new double[steps];
            for (int r = from; r < to; r++) {
                int t = r % steps;
                int maskRow = r / (heads * steps) * steps;
                boolean realQuery = mask[maskRow + t] != 0;
                buffer.get(r, row);
                double max = Double.NEGATIVE_INFINITY;
                for (int u = 0; u < steps; u++) {
                    if (!realQuery || u <= t && mask[maskRow + u] != 0) {
                        row[u] *= scale;
                        max = Math.max(max, row[u]);
                    } else {
                        row[u] = Double.NEGATIVE_INFINITY;
                    }
                }
                double sum = 0;
                for (int u = 0; u < steps; u++) {
                    row[u] = Math.exp(row[u] - max);                       // exp(-inf) = 0: a key it may not see
                    sum += row[u];
                }
                for (int u = 0; u < steps; u++) {
                    row[u] /= sum;
                }
                buffer.put(r, row);
            }
        });
    }

    /**
     * Overwrites {@code gradient} (holding {@code da}, the loss gradient of the weights) with {@code ds}, the loss
     * gradient of the unscaled scores.
     *
     * @param weights  {@code [mb h, T, T]} from {@link #forward}
     * @param gradient the same shape
     */
    static void backward(INDArray weights, INDArray gradient, double scale) {
        int steps = (int) weights.size(2);
        INDArray a = weights.reshape('c', weights.size(0) * steps, steps);
        INDArray rows = gradient.reshape('c', gradient.size(0) * steps, steps);
        eachRow(rows, (buffer, from, to) -> {
            RowBuffer weightRows = RowBuffer.of(a);
            double[] row = new double[steps];
            double[] weight = new double[steps];
            for (int r = from; r < to; r++) {
                buffer.get(r, row);
                weightRows.get(r, weight);
                double dot = 0;
                for (int u = 0; u < steps; u++) {
                    dot += weight[u] * row[u];
                }
                for (int u = 0; u < steps; u++) {
                    row[u] = weight[u] * (row[u] - dot) * scale;
                }
                buffer.put(r, row);
            }
        });
    }

    /** The work on rows {@code [from, to)} of a matrix, through a row buffer of its own. */
    @FunctionalInterface
    private interface Rows {
        void run(RowBuffer buffer, int from, int to);
    }

    private static void eachRow(INDArray rows, Rows work) {
        int n = (int) rows.size(0);
        int parts = rows.length() < MIN_PARALLEL ? 1 : Math.min(Parallelism.threads(), n);
        Parallelism.inRanges(n, parts, (part, from, to) -> work.run(RowBuffer.of(rows), from, to));
    }
}
