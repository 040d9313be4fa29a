package io.github.dl4jmoe.peer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * How often each expert was retrieved, counted from retrieved expert ids, and the unevenness of He 2024, Table 2:
 * {@code KL(z || uniform) = log N + sum_i z_i log z_i} of the retrieval distribution z.
 */
public final class RetrievalCounts {

    private final Map<Integer, Integer> counts = new HashMap<>();
    private final int[] distinctPerHead;
    private long total;

    private RetrievalCounts(int heads) {
        this.distinctPerHead = new int[heads];
    }

    /**
     * @param experts retrieved ids {@code [tokens * heads][k]}, row {@code t * heads + head}
     */
    public static RetrievalCounts of(int[][] experts, int heads) {
        RetrievalCounts c = new RetrievalCounts(heads);
        List<Set<Integer>> perHead = new ArrayList<>();
        for (int h = 0; h < heads; h++) {
            perHead.add(new HashSet<>());
        }
        for (int r = 0; r < experts.length; r++) {
            for (int id : experts[r]) {
                c.counts.merge(id, 1, Integer::sum);
                perHead.get(r % heads).add(id);
                c.total++;
            }
        }
        for (int h = 0; h < heads; h++) {
            c.distinctPerHead[h] = perHead.get(h).size();
        }
        return c;
    }

    /** Retrievals counted, (token, head, slot) triples. */
    public long total() {
        return total;
    }

    /** Distinct experts retrieved. */
    public int distinct() {
        return counts.size();
    }

    /** Distinct experts retrieved by head {@code h}. */
    public int distinctInHead(int h) {
        return distinctPerHead[h];
    }

    /** {@code log N + sum_i z_i log z_i} in nats, with {@code z_i = count_i / total}. */
    public double unevenness(long numExperts) {
        double sumZLogZ = 0;
        for (int c : counts.values()) {
            double z = c / (double) total;
            sumZLogZ += z * Math.log(z);
        }
        return Math.log(numExperts) + sumZLogZ;
    }
}
