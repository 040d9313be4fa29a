package io.github.dl4jmoe.host;

/**
 * How many threads host code splits its work into: one setting for every layer. The system property
 * {@value #PROPERTY} sets it (read on every call, so a program may change it between passes); by default it is the
 * number of available processors. Results do not depend on it beyond floating-point summation order.
 */
public final class Parallelism {

    /** System property holding the thread count, a positive integer. */
    public static final String PROPERTY = "dl4jmoe.threads";

    private Parallelism() {
    }

    /**
     * @throws IllegalArgumentException if the property is set but not a positive integer
     */
    public static int threads() {
        String value = System.getProperty(PROPERTY);
        if (value == null || value.isBlank()) {
            return Runtime.getRuntime().availableProcessors();
        }
        try {
            int threads = Integer.parseInt(value.trim());
            if (threads >= 1) {
                return threads;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("System property " + PROPERTY + " must be a positive integer, got '"
                + value + "' (leave it unset to use every available processor)");
    }

    /** The start of part {@code part} of {@code [0, length)} cut into {@code parts} contiguous ranges. */
    public static int bound(int length, int part, int parts) {
        return (int) ((long) length * part / parts);
    }
}
