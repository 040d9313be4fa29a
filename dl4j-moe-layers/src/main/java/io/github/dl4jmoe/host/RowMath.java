package io.github.dl4jmoe.host;

/** Arithmetic on rows held in Java arrays, for host code. */
public final class RowMath {

    private RowMath() {
    }

    /**
     * {@code a[from .. from + b.length) . b}, in four interleaved partial sums: a single running sum waits on each
     * addition's latency, four keep the floating-point unit busy (only the order of the additions differs).
     */
    public static double dot(double[] a, int from, double[] b) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int j = 0;
        for (; j + 3 < b.length; j += 4) {
            s0 += a[from + j] * b[j];
            s1 += a[from + j + 1] * b[j + 1];
            s2 += a[from + j + 2] * b[j + 2];
            s3 += a[from + j + 3] * b[j + 3];
        }
        for (; j < b.length; j++) {
            s0 += a[from + j] * b[j];
        }
        return (s0 + s1) + (s2 + s3);
    }
}
