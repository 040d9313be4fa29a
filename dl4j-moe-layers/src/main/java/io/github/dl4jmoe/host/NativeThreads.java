package io.github.dl4jmoe.host;

import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * How many threads ND4J's native code splits one operation into (OpenMP and BLAS threads; by default as many as the
 * machine has cores). That default suits large arrays. The operations of small models, such as the examples'
 * language model (arrays of a few hundred thousand elements), take a fraction of a millisecond each, and waking and
 * joining threads for every one of them costs more than it saves: on 2 cores the examples' model trains about twice as
 * fast with one native thread per operation (README, Performance). Host code keeps its own threads
 * ({@link Parallelism}), so PEER's retrieval still uses every core.
 *
 * <p>This is a setting of the whole process, left to programs: the layers never change it. On a backend other than
 * the CPU one, {@link #set} does nothing.
 */
public final class NativeThreads {

    /** System property with the thread count for {@link #setFromProperty}, a positive integer. */
    public static final String PROPERTY = "dl4jmoe.nativeThreads";

    private NativeThreads() {
    }

    /**
     * Sets the number of threads of ND4J's native operations and BLAS calls on the CPU backend.
     *
     * @throws IllegalArgumentException if {@code threads} is not positive
     */
    public static void set(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("native threads must be positive, got " + threads);
        }
        if (!Nd4j.getEnvironment().isCPU()) {
            return;
        }
        Nd4j.getEnvironment().setMaxThreads(threads);
        Nd4j.getEnvironment().setMaxMasterThreads(threads);
        NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(threads);
        Nd4j.factory().blas().setMaxThreads(threads);
    }

    /**
     * What the project's programs call at start: the thread count of the system property {@value #PROPERTY}, or
     * {@code fallback} when it is unset; when neither is given (fallback 0 or less) ND4J's own setting stays, which
     * also honours {@code OMP_NUM_THREADS}.
     *
     * @throws IllegalArgumentException if the property is set but not a positive integer
     */
    public static void setFromProperty(int fallback) {
        String value = System.getProperty(PROPERTY);
        if (value == null || value.isBlank()) {
            if (fallback > 0) {
                set(fallback);
            }
            return;
        }
        try {
            set(Integer.parseInt(value.trim()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("System property " + PROPERTY + " must be a positive integer, got '"
                    + value + "'", e);
        }
    }
}
