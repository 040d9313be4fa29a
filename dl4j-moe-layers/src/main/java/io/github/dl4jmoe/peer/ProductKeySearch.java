package io.github.dl4jmoe.peer;

import java.lang.ref.Reference;
import java.util.stream.IntStream;

import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.RowBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;

/**
 * Exact top-k over N = n^2 product keys without scoring all N (Lample et al. 2019, "Large Memory Layers with
 * Product Keys"; He 2024, PEER, section 2): the score of key (i, j) is {@code s1[i] + s2[j]}, so the k best sums lie
 * among the c best of each half when c >= k. Cost per query: O(n + c^2) after the half scores, which are computed in
 * the graph ({@code [queries, n]} each); the {@code [queries, N]} score matrix is never formed.
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
        INDArray rows1 = rowMajor(scores1);
        INDArray rows2 = rowMajor(scores2);
        int queries = (int) rows1.size(0);
        int n = (int) rows1.size(1);
        Result out = new Result(new int[queries * k], new double[queries * k]);
        // contiguous ranges of queries, each reading its score rows one at a time (no [queries, n] copy)
        int threads = Parallelism.threads();
        IntStream.range(0, threads).parallel().forEach(part -> {
            RowBuffer in1 = RowBuffer.of(rows1);
            RowBuffer in2 = RowBuffer.of(rows2);
            double[] s1 = new double[n];
            double[] s2 = new double[n];
            int end = Parallelism.bound(queries, part + 1, threads);
            for (int q = Parallelism.bound(queries, part, threads); q < end; q++) {
                in1.get(q, s1);
                in2.get(q, s2);
                searchOne(s1, s2, q, n, candidates, k, out);
            }
        });
        Reference.reachabilityFence(rows1);
        Reference.reachabilityFence(rows2);
        return out;
    }

    private static INDArray rowMajor(INDArray a) {
        return a.ordering() == 'c' && Shape.hasDefaultStridesForShape(a) ? a : a.dup('c');
    }

    /**
     * The query's k best keys from its half-score rows {@code s1}, {@code s2} (length n each). With both candidate
     * lists sorted best first, pair (a, b) is preceded in the order by the (a + 1)(b + 1) - 1 pairs (a' &lt;= a,
     * b' &lt;= b): a higher sum, or an equal sum and a lower key (ties within a list are sorted by lower index). So
     * only pairs with {@code (a + 1)(b + 1) <= k} can be among the k best: about {@code k ln k} pairs, not c^2.
     */
    private static void searchOne(double[] s1, double[] s2, int q, int n, int c, int k, Result out) {
        int[] best1 = topIndices(s1, 0, n, c);
        int[] best2 = topIndices(s2, 0, n, c);
        int count = 0;
        for (int a = 0; a < c; a++) {
            count += Math.min(c, k / (a + 1));
        }
        double[] sums = new double[count];
        int[] keys = new int[count];
        int pairs = 0;
        for (int a = 0; a < c; a++) {
            for (int b = 0; b < Math.min(c, k / (a + 1)); b++) {
                sums[pairs] = s1[best1[a]] + s2[best2[b]];
                keys[pairs++] = best1[a] * n + best2[b];
            }
        }
        int[] order = topOf(sums, keys, pairs, k);
        for (int j = 0; j < k; j++) {
            out.keys()[q * k + j] = keys[order[j]];
            out.scores()[q * k + j] = sums[order[j]];
        }
    }

    /** Indices of the c largest of {@code s[offset .. offset+n)}, best first, ties to the lower index. */
    static int[] topIndices(double[] s, int offset, int n, int c) {
        int[] idx = new int[c];
        double[] val = new double[c];
        int size = 0;
        for (int i = 0; i < n; i++) {
            double v = s[offset + i];
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
        return idx;
    }

    /** Positions of the k best (sum desc, key asc) among {@code count} candidates. */
    private static int[] topOf(double[] sums, int[] keys, int count, int k) {
        int[] pos = new int[k];
        int size = 0;
        for (int p = 0; p < count; p++) {
            if (size == k && !better(sums, keys, p, pos[k - 1])) {
                continue;
            }
            int at = size == k ? k - 1 : size++;
            while (at > 0 && better(sums, keys, p, pos[at - 1])) {
                pos[at] = pos[at - 1];
                at--;
            }
            pos[at] = p;
        }
        return pos;
    }

    private static boolean better(double[] sums, int[] keys, int p, int than) {
        return sums[p] > sums[than] || (sums[p] == sums[than] && keys[p] < keys[than]);
    }
}
