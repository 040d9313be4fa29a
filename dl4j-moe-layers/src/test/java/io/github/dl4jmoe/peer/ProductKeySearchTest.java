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
     * keep ascending key order (a stable sort).
     */
    private static int[] bruteForce(double[] s1, double[] s2, int k) {
        int n = s1.length;
        return IntStream.range(0, n * n).boxed()
                .sorted(Comparator.comparingDouble((Integer key) -> -(s1[key / n] + s2[key % n])))
                .limit(k).mapToInt(Integer::intValue).toArray();
    }

    @ParameterizedTest(name = "N = {0}^2, k = {1}, candidates = {2}, threads = {3}")
    @CsvSource({"4, 1, 1, 1", "4, 4, 4, 2", "16, 4, 4, 2", "16, 4, 9, 3", "16, 8, 16, 2", "64, 16, 16, 2",
            "64, 16, 24, 5", "64, 2, 64, 1"})
    void findsTheSameKeysAndScoresAsBruteForce(int n, int k, int candidates, int threads) {
        compareWithBruteForce(n, k, candidates, threads, false);
    }

    /** Half scores from {0, 1, 2}: most sums tie, and the lower key must win each tie. */
    @ParameterizedTest(name = "N = {0}^2, k = {1}, candidates = {2}, with ties")
    @CsvSource({"8, 8, 8", "16, 16, 16", "32, 32, 32", "16, 5, 7"})
    void breaksTiesTowardTheLowerKeyAsBruteForceDoes(int n, int k, int candidates) {
        compareWithBruteForce(n, k, candidates, 2, true);
    }

    private static void compareWithBruteForce(int n, int k, int candidates, int threads, boolean ties) {
        System.setProperty(Parallelism.PROPERTY, Integer.toString(threads));
        Random random = new Random(n * 31L + k);
        int queries = 37;
        double[][] s1 = new double[queries][n];
        double[][] s2 = new double[queries][n];
        for (int q = 0; q < queries; q++) {
            for (int i = 0; i < n; i++) {
                s1[q][i] = ties ? random.nextInt(3) : random.nextGaussian();
                s2[q][i] = ties ? random.nextInt(3) : random.nextGaussian();
            }
        }
        INDArray scores1 = Nd4j.createFromArray(s1).castTo(DataType.DOUBLE);
        INDArray scores2 = Nd4j.createFromArray(s2).castTo(DataType.DOUBLE);
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
}
