package io.github.dl4jmoe.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOps;
import org.nd4j.nativeblas.NativeOpsHolder;

class NativeThreadsTest {

    @Test
    void setsTheThreadsOfNativeOperationsAndBlas() {
        Nd4j.getEnvironment();                                        // loads the backend NativeOpsHolder needs
        NativeOps ops = NativeOpsHolder.getInstance().getDeviceNativeOps();
        int before = ops.ompGetMaxThreads();
        try {
            NativeThreads.set(1);
            assertEquals(1, ops.ompGetMaxThreads());
            assertEquals(1, Nd4j.factory().blas().getMaxThreads());
        } finally {
            NativeThreads.set(before);
        }
    }

    @Test
    void rejectsANonPositiveCount() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NativeThreads.set(0));
        assertTrue(e.getMessage().contains("got 0"), e.getMessage());
    }

    @Test
    void namesThePropertyWhenItIsNotANumber() {
        System.setProperty(NativeThreads.PROPERTY, "two");
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> NativeThreads.setFromProperty(1));
            assertTrue(e.getMessage().contains(NativeThreads.PROPERTY) && e.getMessage().contains("'two'"),
                    e.getMessage());
        } finally {
            System.clearProperty(NativeThreads.PROPERTY);
        }
    }
}
