package io.github.dl4jmoe.host;

import java.util.Arrays;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

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

    /** The work on one of the contiguous ranges of {@link #inRanges}. */
    @FunctionalInterface
    public interface Range {
        /** Handles {@code [from, to)}, which is range {@code part}. */
        void run(int part, int from, int to);
    }

    /**
     * Runs {@code part} for parts {@code 0 .. parts - 1}, one per thread of the common fork-join pool; a single part
     * runs in the calling thread alone.
     */
    public static void inParts(int parts, IntConsumer part) {
        if (parts == 1) {
            part.accept(0);
        } else {
            IntStream.range(0, parts).parallel().forEach(part);
        }
    }

    /**
     * Cuts {@code [0, length)} into {@code parts} (at least 1) contiguous ranges ({@link #bound}) and runs
     * {@code range} on each, as {@link #inParts}.
     */
    public static void inRanges(int length, int parts, Range range) {
        int n = Math.max(1, parts);
        inParts(n, part -> range.run(part, bound(length, part, n), bound(length, part + 1, n)));
    }

    /**
     * Cuts consecutive groups into {@code parts} contiguous ranges of groups holding about equal numbers of items:
     * group g holds items {@code [starts[g], starts[g + 1])}, range p is groups {@code [bounds[p], bounds[p + 1])}, and
     * begins with the first group whose items begin at or after item {@code bound(items, p, parts)} (empty groups
     * there may fall on either side).
     *
     * @param starts {@code groups + 1} non-decreasing item boundaries, from 0
     */
    public static int[] groupBounds(int[] starts, int groups, int parts) {
        int[] bounds = new int[parts + 1];
        for (int p = 1; p < parts; p++) {
            int found = Arrays.binarySearch(starts, 0, groups + 1, bound(starts[groups], p, parts));
            bounds[p] = Math.max(bounds[p - 1], found >= 0 ? found : Math.min(-found - 1, groups));
        }
        bounds[parts] = groups;
        return bounds;
    }
}
