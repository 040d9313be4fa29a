/**
 * Dense to Mixture-of-Experts conversion ("upcycling"): a trained network whose {@code DenseFeedForward} blocks
 * become FineRMoE or fine-grained/copied-expert MoE layers with weights derived from the dense ones. Layer configs
 * live in {@code io.github.dl4jmoe.layers}; this package only builds new networks and fills their weights.
 */
package io.github.dl4jmoe.upcycle;
