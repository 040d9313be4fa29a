package io.github.dl4jmoe.experts;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Gradients for rows of a table, one contribution per retrieved (token, expert) pair: contribution {@code i} is
 * {@code coefficients[i] * vectors[i / group]} and belongs to table row {@code rows[i]}. A PEER expert's down row
 * gets {@code dL/dpre * x_t} and its up row {@code gate * act * epsilon_t}, so the {@code [pairs, width]} gradient
 * matrix never needs to exist; a plain matrix is the case {@code group = 1} with unit coefficients.
 *
 * @param rows         table row of each contribution (duplicates allowed)
 * @param coefficients scale of each contribution, {@code rows.length}
 * @param vectors      row-major {@code [rows.length / group, width]}
 * @param group        consecutive contributions sharing a vector (PEER: h*k experts per token)
 */
public record RowGradients(int[] rows, double[] coefficients, double[] vectors, int group, int width) {

    public RowGradients {
        if (coefficients.length != rows.length || group < 1 || rows.length % group != 0
                || (long) rows.length / group * width != vectors.length) {
            throw new IllegalArgumentException("RowGradients: " + rows.length + " rows, " + coefficients.length
                    + " coefficients, " + vectors.length + " vector entries of width " + width + " in groups of "
                    + group);
        }
    }

    /** Each row of {@code matrix} ({@code [rows.length, width]}) is one contribution. */
    public static RowGradients of(int[] rows, INDArray matrix) {
        double[] ones = new double[rows.length];
        java.util.Arrays.fill(ones, 1.0);
        return new RowGradients(rows, ones, HostArrays.toDoubles(matrix), 1, (int) matrix.size(1));
    }

    /** {@code acc += contribution i}. */
    void addTo(int i, double[] acc) {
        double c = coefficients[i];
        int from = (i / group) * width;
        for (int j = 0; j < width; j++) {
            acc[j] += c * vectors[from + j];
        }
    }

    /** The dense gradient, {@code [tableRows, width]} row-major: every contribution summed into its row. */
    public double[] denseSum(int tableRows) {
        double[] out = new double[Math.multiplyExact(tableRows, width)];
        double[] acc = new double[width];
        for (int i = 0; i < rows.length; i++) {
            java.util.Arrays.fill(acc, 0);
            addTo(i, acc);
            int at = rows[i] * width;
            for (int j = 0; j < width; j++) {
                out[at + j] += acc[j];
            }
        }
        return out;
    }
}
