/**
 * The layer configs users put in a {@code MultiLayerNetwork} or {@code ComputationGraph}: the dense feed-forward
 * baseline and the Mixture-of-Experts layers, with the activations they share. Each is a
 * {@link io.github.dl4jmoe.runtime.BaseMoeLayer}; routing rules, losses and statistics live in their own packages.
 */
package io.github.dl4jmoe.layers;
