package io.github.dl4jmoe.peer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

class ExpertGroupsTest {

    @Test
    void groupsEverySlotUnderItsExpertInAscendingOrder() {
        int[] ids = new Random(7).ints(1000, 0, 50).toArray();
        ExpertGroups groups = ExpertGroups.of(ids);
        int[] seen = new int[ids.length];
        for (int g = 0; g < groups.groups(); g++) {
            assertTrue(g == 0 || groups.expert(g) > groups.expert(g - 1), "experts ascend");
            assertTrue(groups.start(g + 1) > groups.start(g), "no empty group");
            for (int i = groups.start(g); i < groups.start(g + 1); i++) {
                assertEquals(groups.expert(g), ids[groups.slot(i)]);
                seen[groups.slot(i)]++;
            }
        }
        int[] once = new int[ids.length];
        java.util.Arrays.fill(once, 1);
        assertArrayEquals(once, seen, "every slot exactly once");
    }

    @Test
    void twoThreadsGetDisjointGroupsAndTheirAccumulatorsAreSummed() {
        ExpertGroups groups = ExpertGroups.of(new int[] {4, 1, 4, 9, 1, 1, 9, 2});
        List<int[]> ranges = java.util.Collections.synchronizedList(new ArrayList<>());
        double[] total = groups.inParallel(2, (from, to, acc) -> {
            ranges.add(new int[] {from, to});
            for (int g = from; g < to; g++) {
                acc[0] += groups.start(g + 1) - groups.start(g);
                acc[1] += 1;
            }
        });
        assertEquals(8, total[0], "slots");
        assertEquals(4, total[1], "groups 1, 2, 4, 9");
        ranges.sort(java.util.Comparator.comparingInt(r -> r[0]));
        assertEquals(0, ranges.get(0)[0]);
        assertEquals(ranges.get(0)[1], ranges.get(1)[0], "adjacent, disjoint");
        assertEquals(4, ranges.get(1)[1]);
    }
}
