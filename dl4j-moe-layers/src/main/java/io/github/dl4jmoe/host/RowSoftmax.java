package io.github.dl4jmoe.host;

/** Softmax over consecutive groups of values in a Java array, for host code (router probabilities, PEER's gates). */
public final class RowSoftmax {

    private RowSoftmax() {
    }

    /**
     * {@code exp(v_i - max) / sum_j exp(v_j - max)} within each group of {@code width} consecutive values (a row of a
     * row-major matrix); a new array.
     */
    public static double[] of(double[] values, int width) {
        double[] p = new double[values.length];
        for (int row = 0; row < values.length; row += width) {
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
        return p;
    }
}
