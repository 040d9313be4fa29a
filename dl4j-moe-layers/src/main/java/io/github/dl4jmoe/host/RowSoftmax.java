package io.github.dl4jmoe.host;

/** Softmax over consecutive groups of values in a Java array, for host code (router probabilities, PEER's gates). */
public final class RowSoftmax {

    private RowSoftmax() {
    }

    /** Below this many values the rows are computed in the calling thread alone. */
    private static final int MIN_PARALLEL = 1 << 16;

    /**
     * {@code exp(v_i - max) / sum_j exp(v_j - max)} within each group of {@code width} consecutive values (a row of a
     * row-major matrix); a new array. Large inputs split their rows over {@link Parallelism#threads()} threads (each
     * row is computed the same way in any thread).
     */
    public static double[] of(double[] values, int width) {
        double[] p = new double[values.length];
        int rows = values.length / width;
        int parts = values.length < MIN_PARALLEL ? 1 : Math.min(Parallelism.threads(), rows);
        Parallelism.inRanges(rows, parts, (part, from, to) -> rows(values, width, p, from, to));
        return p;
    }

    private static void rows(double[] values, int width, double[] p, int from, int to) {
        for (int row = from * width; row < to * width; row += width) {
            double max = Double.NEGATIVE_INFINITY;
            for (int i = row; i < row + width; i++) {
                max = Math.max(max, values[i]);
            }
            double sum = 0;
            for (int i = row; i < row + width; i++) {
                p[i] = Math.exp(values[i] - max);
                sum += p[i];
            }
            for (int i = row; i < row + width; i++) {
                p[i] /= sum;
            }
        }
    }
}
