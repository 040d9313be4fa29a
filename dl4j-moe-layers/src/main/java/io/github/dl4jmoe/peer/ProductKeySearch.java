package io.github.dl4jmoe.peer;

import java.lang.ref.Reference;
import java.util.stream.IntStream;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.RowBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Exact top-k over N = n^2 product keys without scoring all N (Lample et al. 2019, "Large Memory Layers with
 * Product Keys"; He 2024, PEER, section 2): the score of key (i, j) is {@code s1[i] + s2[j]}, so the k best sums lie
 * among the c best of each half when c >= k. Cost per query: O(n c) at worst for the two candidate lists (insertion
 * into a sorted list, O(n) when c is much smaller than n), then a merge of their pairs ({@link Query}), after the
 * half scores ({@code [queries, n]} each, computed by ND4J); the {@code [queries, N]} score matrix is never formed.
 *
 * <p>Order: descending score, ties to the lower key index (i * n + j), in both stages.
 */
public final class ProductKeySearch {

    private ProductKeySearch() {
    }

    /**
     * The k best keys of each query, {@code [queries, k]} row-major, best first.
     *
     * @param keys   key indices {@code i * n + j}
     * @param scores their scores {@code s1[i] + s2[j]}
     */
    public record Result(int[] keys, double[] scores) {
    }

    /**
     * @param scores1    half scores {@code [queries, n]}, FLOAT or DOUBLE
     * @param scores2    half scores {@code [queries, n]}
     * @param candidates c, the best keys kept per half ({@code k <= c*c}; exact when {@code c >= k})
     * @param k          keys returned per query
     */
    public static Result search(INDArray scores1, INDArray scores2, int candidates, int k) {
        INDArray rows1 = HostArrays.rowMajor(scores1);
        INDArray rows2 = HostArrays.rowMajor(scores2);
        int queries = (int) rows1.size(0);
        int n = (int) rows1.size(1);
        Result out = new Result(new int[queries * k], new double[queries * k]);
        // contiguous ranges of queries, each reading its score rows one at a time (no [queries, n] copy)
        int threads = Parallelism.threads();
        boolean floats = rows1.dataType() == DataType.FLOAT && rows2.dataType() == DataType.FLOAT;
        IntStream.range(0, threads).parallel().forEach(part -> {
            RowBuffer in1 = RowBuffer.of(rows1);
            RowBuffer in2 = RowBuffer.of(rows2);
            Query query = new Query(n, candidates, floats);
            int end = Parallelism.bound(queries, part + 1, threads);
            for (int q = Parallelism.bound(queries, part, threads); q < end; q++) {
                in1.get(q, query.s1);
                in2.get(q, query.s2);
                query.search(k, out.keys(), out.scores(), q * k);
            }
        });
        Reference.reachabilityFence(rows1);
        Reference.reachabilityFence(rows2);
        return out;
    }

    /**
     * One thread's search, one query at a time, with its buffers. With both candidate lists sorted best first, pair
     * (a, b) is preceded in the order by every pair (a' &lt;= a, b' &lt;= b): a higher sum, or an equal sum and a
     * lower key (ties within a list are sorted by lower index). So row a of the pairs, {@code (a, 0), (a, 1), ...},
     * is in order, and its first pair comes after {@code (a - 1, 0)}: the k best are a merge of the rows that takes
     * each next pair from the heads of the rows begun so far, and row a + 1 begins when row a's first pair is taken.
     * The rows begun stay few (about ten for k = 32 on random scores), so this costs k times that in sums and
     * comparisons, without the insertion sort of the k ln k pairs with {@code (a + 1)(b + 1) <= k} (the only ones
     * that can be among the k best) that it replaced.
     */
    private static final class Query {
        final double[] s1;
        final double[] s2;
        private final int n;
        private final int c;
        private final int[] best1;
        private final int[] best2;
        private final double[] sorted1;
        private final double[] sorted2;
        /** Per begun row: the column of its next pair, that pair's sum and key. */
        private final int[] next;
        private final double[] sums;
        private final int[] keys;
        private final boolean floats;
        private final long[] packed;

        Query(int n, int c, boolean floats) {
            this.n = n;
            this.c = c;
            this.floats = floats;
            this.packed = new long[c];
            this.s1 = new double[n];
            this.s2 = new double[n];
            this.best1 = new int[c];
            this.best2 = new int[c];
            this.sorted1 = new double[c];
            this.sorted2 = new double[c];
            this.next = new int[c];
            this.sums = new double[c];
            this.keys = new int[c];
        }

        /** Writes the k best keys and their scores at {@code keys[at..]}, {@code scores[at..]}, best first. */
        void search(int k, int[] outKeys, double[] outScores, int at) {
            if (floats) {
                topFloats(s1, n, c, best1, sorted1, packed);
                topFloats(s2, n, c, best2, sorted2, packed);
            } else {
                topIndices(s1, n, c, best1, sorted1);
                topIndices(s2, n, c, best2, sorted2);
            }
            int rows = 0;
            advance(rows++, 0);
            for (int j = 0; j < k; j++) {
                int row = 0;
                for (int a = 1; a < rows; a++) {
                    if (sums[a] > sums[row] || (sums[a] == sums[row] && keys[a] < keys[row])) {
                        row = a;
                    }
                }
                outKeys[at + j] = keys[row];
                outScores[at + j] = sums[row];
                if (next[row] == 0 && rows < c) {                         // row was the last begun
                    advance(rows++, 0);
                }
                advance(row, next[row] + 1);
            }
        }

        /** Row {@code row}'s next pair is column {@code b}; an exhausted row's sum loses to every pair's. */
        private void advance(int row, int b) {
            next[row] = b;
            if (b == c) {
                sums[row] = Double.NEGATIVE_INFINITY;
                keys[row] = Integer.MAX_VALUE;
                return;
            }
            sums[row] = sorted1[row] + sorted2[b];
            keys[row] = best1[row] * n + best2[b];
        }
    }

    /**
     * Indices of the c largest of {@code s[0 .. n)}, best first, ties to the lower index, into {@code idx}, and their
     * values into {@code val}.
     */
    static void topIndices(double[] s, int n, int c, int[] idx, double[] val) {
        int size = 0;
        for (int i = 0; i < n; i++) {
            double v = s[i];
            if (size == c && !(v > val[c - 1])) {
                // not better than the worst kept (equal: the kept one has a lower index)
                continue;
            }
            int pos = size == c ? c - 1 : size++;
            while (pos > 0 && v > val[pos - 1]) {
                val[pos] = val[pos - 1];
                idx[pos] = idx[pos - 1];
                pos--;
            }
            val[pos] = v;
            idx[pos] = i;
        }
    }

    /**
     * {@link #topIndices} for scores that are floats (as doubles): each score and its index packed into one long that
     * orders as the search does, {@code (order-preserving bits of -score) << 32 | index}, so the insertion compares
     * and moves one array instead of two. -0.0 counts as 0.0, as in double comparisons.
     *
     * @param keys scratch of length c
     */
    static void topFloats(double[] s, int n, int c, int[] idx, double[] val, long[] keys) {
        int size = 0;
        for (int i = 0; i < n; i++) {
            int bits = Float.floatToRawIntBits((float) s[i] + 0.0f);
            long key = ((long) ~(bits ^ ((bits >> 31) & Integer.MAX_VALUE)) << 32) | i;
            if (size == c && key >= keys[c - 1]) {
                continue;
            }
            int pos = size == c ? c - 1 : size++;
            while (pos > 0 && key < keys[pos - 1]) {
                keys[pos] = keys[pos - 1];
                pos--;
            }
            keys[pos] = key;
        }
        for (int r = 0; r < c; r++) {
            idx[r] = (int) keys[r];
            val[r] = s[idx[r]];
        }
    }
}
