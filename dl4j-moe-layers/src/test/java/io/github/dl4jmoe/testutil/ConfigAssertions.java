package io.github.dl4jmoe.testutil;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.junit.jupiter.api.function.Executable;

/** Checks that a configuration is rejected with a message naming what was wrong and how to fix it. */
public final class ConfigAssertions {

    private ConfigAssertions() {
    }

    /** Asserts that {@code action} throws {@link DL4JInvalidConfigException} whose message contains every part. */
    public static void assertRejected(Executable action, String... parts) {
        DL4JInvalidConfigException e = assertThrows(DL4JInvalidConfigException.class, action);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message should contain '" + part + "': " + e.getMessage());
        }
    }
}
