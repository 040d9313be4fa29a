package io.github.dl4jmoe.host;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicIntegerArray;

import org.junit.jupiter.api.Test;

/** {@link Parallelism}'s ranges: every index once, and groups cut where their items are shared out. */
class ParallelismTest {

    @Test
    void inRangesVisitsEveryIndexOnceWithItsPart() {
        for (int parts : new int[] {0, 1, 2, 3, 7}) {
            AtomicIntegerArray seen = new AtomicIntegerArray(10);
            AtomicIntegerArray partOf = new AtomicIntegerArray(10);
            Parallelism.inRanges(10, parts, (part, from, to) -> {
                for (int i = from; i < to; i++) {
                    seen.incrementAndGet(i);
                    partOf.set(i, part);
                }
            });
            for (int i = 0; i < 10; i++) {
                assertEquals(1, seen.get(i), "index " + i + " with " + parts + " parts");
                int n = Math.max(1, parts);
                int expected = 0;
                while (expected + 1 < n && Parallelism.bound(10, expected + 1, n) <= i) {
                    expected++;
                }
                assertEquals(expected, partOf.get(i), "part of index " + i + ", " + parts + " parts");
            }
        }
    }

    @Test
    void groupBoundsBeginEachRangeWithTheFirstGroupPastItsCut() {
        // items per group: 4, 0, 0, 2, 6, 0, 4 (16 items)
        int[] starts = {0, 4, 4, 4, 6, 12, 12, 16};
        assertArrayEquals(new int[] {0, 7}, Parallelism.groupBounds(starts, 7, 1));
        assertArrayEquals(new int[] {0, 5, 7}, Parallelism.groupBounds(starts, 7, 2));   // item 8 is in group 4
        for (int parts = 1; parts <= 8; parts++) {
            int[] bounds = Parallelism.groupBounds(starts, 7, parts);
            String what = parts + " parts: " + Arrays.toString(bounds);
            assertEquals(0, bounds[0], what);
            assertEquals(7, bounds[parts], what);
            for (int p = 1; p < parts; p++) {
                int cut = Parallelism.bound(16, p, parts);
                int b = bounds[p];
                assertTrue(bounds[p - 1] <= b && (b == 7 || starts[b] >= cut), what);
                assertTrue(starts[b - 1] < cut || starts[b - 1] == starts[b], "only empty groups at or past the "
                        + "cut before range " + p + ", " + what);
            }
        }
    }
}
