package io.github.dl4jmoe.peer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;

import io.github.dl4jmoe.host.Parallelism;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The product-key search against a brute-force search over all N keys. */
class ProductKeySearchTest {

    @AfterEach
    void defaultThreads() {
        System.clearProperty(Parallelism.PROPERTY);
    }

    /**
     * Every key's score {@code s1[i] + s2[j]} for key {@code i n + j}, the k best in descending order; equal scores
     * (as doubles compare: -0.0 equals 0.0) keep ascending key order (a stable sort).
     */
    private static int[] bruteForce(double[] s1, double[] s2, int k) {
        int n = s1.length;
        return IntStream.range(0, n * n).boxed()
                .sorted((a, b) -> descending(s1[a / n] + s2[a % n], s1[b / n] + s2[b % n]))
                .limit(k).mapToInt(Integer::intValue).toArray();
    }

    /** The c best indices of one half, best first, ties to the lower index. */
    private static int[] best(double[] s, int c) {
        return IntStream.range(0, s.length).boxed().sorted((a, b) -> descending(s[a], s[b])).limit(c)
                .mapToInt(Integer::intValue).toArray();
    }

    private static int descending(double a, double b) {
        return a > b ? -1 : a < b ? 1 : 0;
    }

    /**
     * With fewer candidates c than k, the search is the k best of the c^2 pairs of each half's c best; the merge of
     * rows then runs past the end of a row (row 0 holds only c pairs).
     */
    @ParameterizedTest(name = "N = {0}^2, k = {1}, candidates = {2}, {3}")
    @CsvSource({"8, 20, 5, DOUBLE", "8, 20, 5, FLOAT", "6, 9, 3, DOUBLE", "16, 16, 4, FLOAT"})
    void withFewerCandidatesThanKTakesTheBestPairsOfTheCandidates(int n, int k, int candidates, DataType type) {
        Random random = new Random(n * 7L + k);
        for (boolean ties : new boolean[] {false, true}) {
            double[][] s1 = new double[5][n];
            double[][] s2 = new double[5][n];
            for (int q = 0; q < 5; q++) {
                for (int i = 0; i < n; i++) {
                    s1[q][i] = score(random, ties, type);
                    s2[q][i] = score(random, ties, type);
                }
            }
            ProductKeySearch.Result found = ProductKeySearch.search(Nd4j.createFromArray(s1).castTo(type),
                    Nd4j.createFromArray(s2).castTo(type), candidates, k);
            for (int q = 0; q < 5; q++) {
                int[] best1 = best(s1[q], candidates);
                int[] best2 = best(s2[q], candidates);
                double[] a = s1[q];
                double[] b = s2[q];
                int[] expected = IntStream.range(0, candidates * candidates).boxed()
                        .map(p -> best1[p / candidates] * n + best2[p % candidates])
                        .sorted(Comparator.comparingInt(Integer::intValue))
                        .sorted((x, y) -> descending(a[x / n] + b[x % n], a[y / n] + b[y % n]))
                        .limit(k).mapToInt(Integer::intValue).toArray();
                assertArrayEquals(expected, java.util.Arrays.copyOfRange(found.keys(), q * k, (q + 1) * k),
                        "query " + q + (ties ? " with ties" : ""));
            }
        }
    }

    @ParameterizedTest(name = "N = {0}^2, k = {1}, candidates = {2}, threads = {3}, {4}")
    @CsvSource({"4, 1, 1, 1, DOUBLE", "4, 4, 4, 2, DOUBLE", "16, 4, 4, 2, DOUBLE", "16, 4, 9, 3, DOUBLE",
            "16, 8, 16, 2, DOUBLE", "64, 16, 16, 2, DOUBLE", "64, 16, 24, 5, DOUBLE", "64, 2, 64, 1, DOUBLE",
            "4, 4, 4, 2, FLOAT", "16, 4, 9, 3, FLOAT", "32, 32, 32, 2, FLOAT", "64, 16, 16, 2, FLOAT"})
    void findsTheSameKeysAndScoresAsBruteForce(int n, int k, int candidates, int threads, DataType type) {
        compareWithBruteForce(n, k, candidates, threads, false, type);
    }

    /**
     * Half scores from {0, 1, 2} (and -0.0 for some zeros): most sums tie, and the lower key must win each tie. In
     * float the scores are packed with their indices ({@code ProductKeySearch.topFloats}), in double compared as
     * they are.
     */
    @ParameterizedTest(name = "N = {0}^2, k = {1}, candidates = {2}, with ties, {3}")
    @CsvSource({"8, 8, 8, DOUBLE", "16, 16, 16, DOUBLE", "32, 32, 32, DOUBLE", "16, 5, 7, DOUBLE",
            "8, 8, 8, FLOAT", "32, 32, 32, FLOAT", "16, 5, 7, FLOAT"})
    void breaksTiesTowardTheLowerKeyAsBruteForceDoes(int n, int k, int candidates, DataType type) {
        compareWithBruteForce(n, k, candidates, 2, true, type);
    }

    private static void compareWithBruteForce(int n, int k, int candidates, int threads, boolean ties,
                                              DataType type) {
        System.setProperty(Parallelism.PROPERTY, Integer.toString(threads));
        Random random = new Random(n * 31L + k);
        int queries = 37;
        double[][] s1 = new double[queries][n];
        double[][] s2 = new double[queries][n];
        for (int q = 0; q < queries; q++) {
            for (int i = 0; i < n; i++) {
                s1[q][i] = score(random, ties, type);
                s2[q][i] = score(random, ties, type);
            }
        }
        INDArray scores1 = Nd4j.createFromArray(s1).castTo(type);
        INDArray scores2 = Nd4j.createFromArray(s2).castTo(type);
        ProductKeySearch.Result found = ProductKeySearch.search(scores1, scores2, candidates, k);
        for (int q = 0; q < queries; q++) {
            int[] expected = bruteForce(s1[q], s2[q], k);
            int[] keys = java.util.Arrays.copyOfRange(found.keys(), q * k, (q + 1) * k);
            assertArrayEquals(expected, keys, "query " + q);
            double[] expectedScores = new double[k];
            for (int p = 0; p < k; p++) {
                expectedScores[p] = s1[q][expected[p] / n] + s2[q][expected[p] % n];
            }
            assertArrayEquals(expectedScores, java.util.Arrays.copyOfRange(found.scores(), q * k, (q + 1) * k),
                    1e-12, "query " + q);
        }
    }

    /** A score exactly representable in {@code type}: one of 0, -0.0, 1, 2 with ties, else Gaussian. */
    private static double score(Random random, boolean ties, DataType type) {
        if (ties) {
            int v = random.nextInt(4);
            return v == 3 ? -0.0 : v;
        }
        double g = random.nextGaussian();
        return type == DataType.FLOAT ? (float) g : g;
    }
}
