package io.github.dl4jmoe.peer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import io.github.dl4jmoe.host.Parallelism;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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

    @AfterEach
    void defaultThreads() {
        System.clearProperty(Parallelism.PROPERTY);
    }

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {1, 2, 3, 5})
    void threadsGetAdjacentDisjointGroupsAndTheirAccumulatorsAreSummed(int threads) {
        System.setProperty(Parallelism.PROPERTY, Integer.toString(threads));
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
        assertEquals(Math.min(threads, 4), ranges.size(), "one range per thread, at most one per group");
        ranges.sort(java.util.Comparator.comparingInt(r -> r[0]));
        assertEquals(0, ranges.get(0)[0]);
        for (int r = 1; r < ranges.size(); r++) {
            assertEquals(ranges.get(r - 1)[1], ranges.get(r)[0], "adjacent, disjoint");
        }
        assertEquals(4, ranges.get(ranges.size() - 1)[1]);
    }

    @Test
    void aThreadCountThatIsNotAPositiveIntegerIsRejectedWithItsName() {
        System.setProperty(Parallelism.PROPERTY, "0");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                Parallelism::threads);
        assertTrue(e.getMessage().contains(Parallelism.PROPERTY) && e.getMessage().contains("'0'"), e.getMessage());
    }
}
