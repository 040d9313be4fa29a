package io.github.dl4jmoe.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;

import org.junit.jupiter.api.Test;

class NativeMemoryListenerTest {

    private static long collections() {
        return ManagementFactory.getGarbageCollectorMXBeans().stream()
                .mapToLong(GarbageCollectorMXBean::getCollectionCount).filter(c -> c >= 0).sum();
    }

    @Test
    void trimsThroughJavaCppOnLinux() {
        // JavaCPP 1.5.7 wraps glibc's malloc_trim; a missing wrapper would silently disable the release
        assertEquals(System.getProperty("os.name").startsWith("Linux"), NativeMemoryListener.release());
    }

    @Test
    void releasesEveryNIterationsOnly() {
        NativeMemoryListener listener = new NativeMemoryListener(3);
        long before = collections();
        listener.iterationDone(null, 0, 0);
        listener.iterationDone(null, 1, 0);
        assertEquals(before, collections(), "no release before the third iteration");
        listener.iterationDone(null, 2, 0);
        assertTrue(collections() > before, "the third iteration collects");
    }

    @Test
    void rejectsANonPositiveInterval() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new NativeMemoryListener(0));
        assertTrue(e.getMessage().contains("got 0"), e.getMessage());
    }
}
