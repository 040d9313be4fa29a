package io.github.dl4jmoe.ops;

import java.lang.reflect.Field;
import java.util.HashMap;
import java.util.Map;

import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.imports.converters.DifferentialFunctionClassHolder;
import org.nd4j.imports.converters.ImportClassMapping;

/**
 * Makes our own op classes survive SameDiff's FlatBuffers clone (M2.1).
 *
 * <p>The clone writes each custom op as (hash, name) and re-creates it with
 * {@link DifferentialFunctionClassHolder#customOpClassForHashAndName(long, String)}. An op whose name is not a native
 * op is written with hash 0, and nothing maps (0, our name) back to our class: the clone would fail, or silently use a
 * stock op without our gradient. This class adds that mapping to the holder's private table. It is the project's
 * only reflection into ND4J; {@code RowLookupTest} fails if the mapping stops working.
 */
final class CloneRegistry {

    /** The hash FlatBuffersMapper writes for a custom op whose name the native library does not know. */
    private static final long UNKNOWN_OP_HASH = 0L;

    private CloneRegistry() {
    }

    static synchronized void register(String opName, Class<? extends DifferentialFunction> opClass) {
        DifferentialFunctionClassHolder holder = DifferentialFunctionClassHolder.getInstance();
        Map<Long, Map<String, Class<?>>> byHashAndName = readField(holder, "customOpHashToClasses");
        Map<Long, Class<?>> byHash = readField(holder, "customOpHashToClass");
        Map<String, Class<?>> forUnknownHash = byHashAndName.computeIfAbsent(UNKNOWN_OP_HASH,
                h -> new FallbackMap(byHash.get(UNKNOWN_OP_HASH)));
        forUnknownHash.put(opName, opClass);
    }

    @SuppressWarnings("unchecked")
    private static <T> T readField(Object target, String name) {
        try {
            Field field = target.getClass().getDeclaredField(name);
            field.setAccessible(true);
            return (T) field.get(target);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("dl4j-moe needs DifferentialFunctionClassHolder." + name
                    + " of ND4J 1.0.0-M2.1 to register its ops for graph cloning; this ND4J version differs", e);
        }
    }

    /**
     * Once a name table exists for hash 0, the holder consults only it; names we did not add must still resolve as
     * before: to the single class registered for hash 0, else through the import mapping by name.
     */
    private static final class FallbackMap extends HashMap<String, Class<?>> {
        private final transient Class<?> singleClassForHash;

        FallbackMap(Class<?> singleClassForHash) {
            this.singleClassForHash = singleClassForHash;
        }

        @Override
        public Class<?> get(Object name) {
            Class<?> own = super.get(name);
            if (own != null) {
                return own;
            }
            if (singleClassForHash != null) {
                return singleClassForHash;
            }
            DifferentialFunction imported = ImportClassMapping.getOpNameMapping().get(name);
            return imported == null ? null : imported.getClass();
        }
    }
}
