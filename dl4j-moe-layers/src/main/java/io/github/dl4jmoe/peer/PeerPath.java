package io.github.dl4jmoe.peer;

import java.util.Locale;

/**
 * How PEER computes its experts and its sub-key gradients: over all N experts (all sqrt N sub-keys) with matrix
 * products, or over the retrieved ones only with Java loops. Both give the same values up to summation order
 * ({@code DenseExpertsTest}, {@code PeerQueriesTest}); this is about speed only, and unrelated to whether the tables
 * are updated densely or sparsely ({@code PeerLayer.TableUpdates}).
 *
 * <p>The products do {@code N / slots} times the arithmetic of the loops over the retrieved rows (slots = heads * k
 * experts per token) but run it at BLAS speed, while the loops read scattered rows at a fraction of it (C2 on Java 17
 * does not vectorise them). With 128 slots per token on a 2-core machine ({@code bench peer}, d = 256) the products
 * trained faster at N = 1,024 and N = 2,025 (about 16 * slots) and slower at N = 4,096 (32 * slots); at N = 65,536
 * and beyond the loops are the only option. So {@link #AUTO} takes the products while {@code N <= }
 * {@value #DENSE_EXPERTS_FACTOR}{@code  * slots}, and the dense sub-key gradients while {@code keyRows <= }
 * {@value #DENSE_KEYS_FACTOR}{@code  * k} (key rows: sqrt N, times the heads without shared keys). The system property
 * {@value #PROPERTY} overrides the choice (tests run both paths).
 */
public enum PeerPath {
    /** Chosen by the cost estimate above (the default). */
    AUTO,
    /** Matrix products over all experts and sub-keys. */
    DENSE,
    /** Java loops over the retrieved experts and selected sub-keys. */
    SPARSE;

    /** System property forcing a path: {@code auto} (the default), {@code dense} or {@code sparse}. */
    public static final String PROPERTY = "dl4jmoe.peerPath";
    /** {@link #AUTO} computes all experts while N is at most this many times the slots per token. */
    public static final int DENSE_EXPERTS_FACTOR = 16;
    /** {@link #AUTO} forms the dense sub-key score gradients while the key rows are at most this many times k. */
    public static final int DENSE_KEYS_FACTOR = 8;

    /**
     * The path the system property asks for, read on every call.
     *
     * @throws IllegalArgumentException if the property names no path
     */
    public static PeerPath current() {
        String value = System.getProperty(PROPERTY);
        if (value == null || value.isBlank()) {
            return AUTO;
        }
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("System property " + PROPERTY + " must be auto, dense or sparse, got '"
                    + value + "' (leave it unset to choose by the table size)", e);
        }
    }

    /** Whether to compute the experts over all {@code numExperts} with matrix products, for {@code slots} per token. */
    boolean denseExperts(long numExperts, int slots) {
        return this == DENSE || (this == AUTO && numExperts <= (long) DENSE_EXPERTS_FACTOR * slots);
    }

    /** Whether to form the dense score gradients over all {@code keyRows} sub-keys, for {@code topK} per query. */
    boolean denseKeys(long keyRows, int topK) {
        return this == DENSE || (this == AUTO && keyRows <= (long) DENSE_KEYS_FACTOR * topK);
    }
}
