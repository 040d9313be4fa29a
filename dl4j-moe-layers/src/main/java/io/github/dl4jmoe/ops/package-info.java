/**
 * The bottom of the tree: SameDiff building blocks that are safe on DL4J/ND4J 1.0.0-M2.1 - a top-k that honours k,
 * a row lookup whose gradient scatters back into its table, small graph helpers (stop-gradient, masks) - and the
 * hidden activations of feed-forward blocks ({@link io.github.dl4jmoe.ops.HiddenActivation}, exact GELU included).
 *
 * <p>Every work-around for an M2.1 op bug lives here, next to a test that shows the bug's symptom is gone. Layers,
 * routing rules and losses do not live here; they are built from these ops. This package imports no other of ours.
 */
package io.github.dl4jmoe.ops;
