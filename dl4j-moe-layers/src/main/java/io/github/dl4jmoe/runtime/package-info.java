/**
 * How layers execute: eagerly ({@link io.github.dl4jmoe.runtime.ExecutionMode}: a layer's host function run by
 * {@link io.github.dl4jmoe.runtime.MoeLayerRuntime} or {@link io.github.dl4jmoe.runtime.SequenceLayerRuntime}, no
 * graph), or as their SameDiff graph. For the token-wise layers: {@link io.github.dl4jmoe.runtime.BaseMoeLayer}
 * (the config base class, a DL4J {@code SameDiffLayer}), {@link io.github.dl4jmoe.runtime.MoeLayerRuntime} (the DL4J
 * {@code Layer} that runs the eager path or builds and runs the SameDiff graph),
 * {@link io.github.dl4jmoe.runtime.LayerGraph} (what a layer sees while it defines its graph), the parameter step
 * that skips host-updated tables ({@link io.github.dl4jmoe.runtime.HostUpdatedStep}) and the walk from a model to its
 * layers ({@link io.github.dl4jmoe.runtime.ModelLayers}).
 *
 * <p>It fixes, once for all layers, what DL4J 1.0.0-M2.1's stock SameDiff runtime gets wrong: gradients are exact
 * (the stock runtime doubles them), auxiliary losses reach both gradients and the reported score, the graph knows
 * training from inference, and non-trainable state (running statistics) is kept in the parameter vector, saved by
 * {@code ModelSerializer} and never touched by the updater. Layers and routing rules do not live here.
 */
package io.github.dl4jmoe.runtime;
