package io.github.dl4jmoe.experts;

import java.lang.ref.Reference;
import java.util.Arrays;

import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.RowBuffer;
import io.github.dl4jmoe.host.RowMath;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The kept (token, expert) pairs of one pass, in the two orders the eager path needs. Sorted by expert (token order
 * within one expert): row r of the experts' input and output matrices, expert e on rows {@code [start(e),
 * start(e + 1))}. Grouped by token (by expert within a token): the combine and its backward pass gather each token's
 * rows, so each writes a token's row once, and tokens split over {@link Parallelism#threads()} threads without two
 * threads writing one row. Rows are read and written in the arrays' own type, one at a time ({@link RowBuffer}).
 */
final class KeptPairs {

    /** Below this many tokens per thread the loops run in the calling thread alone. */
    private static final int MIN_TOKENS_PER_THREAD = 256;

    private final int[] tokens;
    private final int[] starts;
    private final int[] expertOf;
    private final int[] tokenStarts;
    private final int[] byToken;

    /**
     * @param tokens the token of each row, rows sorted by expert
     * @param starts {@code E + 1} row boundaries of the experts, {@code starts[E] = tokens.length}
     * @param n      tokens of the pass
     */
    KeptPairs(int[] tokens, int[] starts, int n) {
        this.tokens = tokens;
        this.starts = starts;
        this.expertOf = new int[tokens.length];
        for (int e = 0; e + 1 < starts.length; e++) {
            Arrays.fill(expertOf, starts[e], starts[e + 1], e);
        }
        this.tokenStarts = new int[n + 1];
        for (int t : tokens) {
            tokenStarts[t + 1]++;
        }
        for (int t = 0; t < n; t++) {
            tokenStarts[t + 1] += tokenStarts[t];
        }
        this.byToken = new int[tokens.length];
        int[] next = Arrays.copyOf(tokenStarts, n);
        for (int r = 0; r < tokens.length; r++) {                       // rows ascend, so experts ascend per token
            byToken[next[tokens[r]]++] = r;
        }
    }

    /** The token of each row, rows sorted by expert. */
    int[] tokens() {
        return tokens;
    }

    /** The experts' row boundaries, {@code E + 1} of them. */
    int[] starts() {
        return starts;
    }

    int size() {
        return tokens.length;
    }

    /**
     * Writes every row t of {@code routed} {@code [n, nOut]}: the sum over t's pairs r = (t, e) of
     * {@code gates[t * E + e] * out[r]} in the columns of e's output group (zero elsewhere).
     *
     * @param out             the experts' outputs {@code [P, width]}, rows sorted by expert
     * @param gates           {@code [n, E]} row-major
     * @param expertsPerGroup experts per output group; group g owns columns {@code [g width, (g + 1) width)}
     */
    void combine(INDArray out, double[] gates, int expertsPerGroup, INDArray routed) {
        int experts = starts.length - 1;
        inParallel(() -> {
            RowBuffer outRows = RowBuffer.of(out);
            RowBuffer yRows = RowBuffer.of(routed);
            double[] row = new double[outRows.width()];
            double[] y = new double[yRows.width()];
            return (from, to) -> {
                for (int t = from; t < to; t++) {
                    Arrays.fill(y, 0);
                    for (int q = tokenStarts[t]; q < tokenStarts[t + 1]; q++) {
                        int r = byToken[q];
                        int e = expertOf[r];
                        int column = e / expertsPerGroup * row.length;
                        double gate = gates[t * experts + e];
                        outRows.get(r, row);
                        RowMath.axpy(gate, row, y, column);
                    }
                    yRows.put(t, y);
                }
            };
        });
        Reference.reachabilityFence(out);
        Reference.reachabilityFence(routed);
    }

    /**
     * The combine's backward pass: for every pair r = (t, e), the expert rows' gradient
     * {@code dOut[r] = gates[t * E + e] dy[t, group columns]} and the gate's
     * {@code dGates[t * E + e] = dy[t, group columns] . out[r]}.
     */
    void backward(INDArray dy, INDArray out, double[] gates, int expertsPerGroup, INDArray dOut, double[] dGates) {
        int experts = starts.length - 1;
        inParallel(() -> {
            RowBuffer dyRows = RowBuffer.of(dy);
            RowBuffer outRows = RowBuffer.of(out);
            RowBuffer dOutRows = RowBuffer.of(dOut);
            double[] dyRow = new double[dyRows.width()];
            double[] row = new double[outRows.width()];
            double[] grad = new double[outRows.width()];
            return (from, to) -> {
                for (int t = from; t < to; t++) {
                    if (tokenStarts[t] == tokenStarts[t + 1]) {
                        continue;
                    }
                    dyRows.get(t, dyRow);
                    for (int q = tokenStarts[t]; q < tokenStarts[t + 1]; q++) {
                        int r = byToken[q];
                        int e = expertOf[r];
                        int column = e / expertsPerGroup * row.length;
                        int pair = t * experts + e;
                        RowMath.scale(gates[pair], dyRow, column, grad);
                        dOutRows.put(r, grad);
                        outRows.get(r, row);
                        dGates[pair] = RowMath.dot(dyRow, column, row);
                    }
                }
            };
        });
        Reference.reachabilityFence(dy);
        Reference.reachabilityFence(out);
        Reference.reachabilityFence(dOut);
    }

    /** Adds the rows of {@code rows} {@code [P, d]} into their tokens' rows of {@code target} {@code [n, d]}. */
    void addRows(INDArray rows, INDArray target) {
        inParallel(() -> {
            RowBuffer from = RowBuffer.of(rows);
            RowBuffer to = RowBuffer.of(target);
            double[] row = new double[from.width()];
            double[] sum = new double[to.width()];
            return (first, end) -> {
                for (int t = first; t < end; t++) {
                    if (tokenStarts[t] == tokenStarts[t + 1]) {
                        continue;
                    }
                    to.get(t, sum);
                    for (int q = tokenStarts[t]; q < tokenStarts[t + 1]; q++) {
                        from.get(byToken[q], row);
                        for (int c = 0; c < row.length; c++) {
                            sum[c] += row[c];
                        }
                    }
                    to.put(t, sum);
                }
            };
        });
        Reference.reachabilityFence(rows);
        Reference.reachabilityFence(target);
    }

    /** A thread's loop over tokens {@code [from, to)}, with the buffers it made for itself. */
    @FunctionalInterface
    private interface TokenRange {
        void run(int from, int to);
    }

    /** Makes a thread's loop: called once in each thread, so its row buffers are its own. */
    @FunctionalInterface
    private interface PerThread {
        TokenRange start();
    }

    /** Runs the loop over every token, in contiguous ranges of tokens, one per thread. */
    private void inParallel(PerThread loop) {
        int n = tokenStarts.length - 1;
        int parts = Math.max(1, Math.min(Parallelism.threads(), n / MIN_TOKENS_PER_THREAD));
        Parallelism.inRanges(n, parts, (part, from, to) -> loop.start().run(from, to));
    }
}
