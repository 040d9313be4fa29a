package io.github.dl4jmoe.peer;

import io.github.dl4jmoe.host.Parallelism;

/**
 * The slots of one retrieval grouped by expert, experts ascending: group g holds expert {@link #expert(int)} and its
 * slots {@code slot(i)} for {@code start(g) <= i < start(g + 1)}. Visiting the groups reads each retrieved row once
 * and in ascending address order; work is split into {@link Parallelism#threads()} threads at group boundaries, so
 * each expert (and its rows) belongs to one thread.
 */
final class ExpertGroups {

    private final int[] experts;
    private final int[] starts;
    private final int[] slots;

    private ExpertGroups(int[] experts, int[] starts, int[] slots) {
        this.experts = experts;
        this.starts = starts;
        this.slots = slots;
    }

    /** @param expertOfSlot the expert id of each slot (non-negative) */
    static ExpertGroups of(int[] expertOfSlot) {
        int range = 0;
        for (int expert : expertOfSlot) {
            if (expert < 0) {
                throw new IllegalArgumentException("ExpertGroups: negative expert id " + expert);
            }
            range = Math.max(range, expert + 1);
        }
        int[] counts = new int[range + 1];                // counting sort by expert; slots stay ascending within one
        for (int expert : expertOfSlot) {
            counts[expert + 1]++;
        }
        int groups = 0;
        for (int e = 0; e < range; e++) {
            groups += counts[e + 1] > 0 ? 1 : 0;
            counts[e + 1] += counts[e];
        }
        int[] experts = new int[groups];
        int[] starts = new int[groups + 1];
        int g = 0;
        for (int e = 0; e < range; e++) {
            if (counts[e + 1] > counts[e]) {
                experts[g] = e;
                starts[g++] = counts[e];
            }
        }
        starts[groups] = expertOfSlot.length;
        int[] slots = new int[expertOfSlot.length];
        for (int p = 0; p < expertOfSlot.length; p++) {
            slots[counts[expertOfSlot[p]]++] = p;
        }
        return new ExpertGroups(experts, starts, slots);
    }

    int groups() {
        return experts.length;
    }

    int expert(int group) {
        return experts[group];
    }

    int start(int group) {
        return starts[group];
    }

    int slot(int i) {
        return slots[i];
    }

    @FunctionalInterface
    interface Part {
        /** Handles groups {@code [from, to)}, adding into its own {@code accumulator}. */
        void run(int from, int to, double[] accumulator);
    }

    /**
     * Runs {@code body} over all groups in {@link Parallelism#threads()} threads with about equal numbers of slots,
     * each thread with its own zeroed accumulator of {@code width} values; returns the accumulators' sum.
     */
    double[] inParallel(int width, Part body) {
        int threads = Math.max(1, Math.min(Parallelism.threads(), groups()));
        int[] bounds = Parallelism.groupBounds(starts, groups(), threads);
        double[][] parts = new double[threads][];
        Parallelism.inParts(threads, k -> {
            parts[k] = new double[width];
            body.run(bounds[k], bounds[k + 1], parts[k]);
        });
        for (int k = 1; k < threads; k++) {
            for (int i = 0; i < width; i++) {
                parts[0][i] += parts[k][i];
            }
        }
        return parts[0];
    }
}
