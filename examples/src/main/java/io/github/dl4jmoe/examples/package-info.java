/**
 * Runnable training programs and their command-line entry point, {@link io.github.dl4jmoe.examples.MoeExamples}.
 * Every program is a {@code final} picocli command whose {@code run()} returns a result, so tests can run it with
 * small limits; their helpers (CharWindows, RoutingReport's CSV files and charts) live beside them. Layers and zoo
 * models do not live here.
 */
package io.github.dl4jmoe.examples;
