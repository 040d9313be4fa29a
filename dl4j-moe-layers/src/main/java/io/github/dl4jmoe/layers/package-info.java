/**
 * The layer configs users put in a {@code MultiLayerNetwork} or {@code ComputationGraph}, as DL4J keeps its own in
 * {@code nn.conf.layers}: {@link io.github.dl4jmoe.layers.DenseFeedForward},
 * {@link io.github.dl4jmoe.layers.MoeFeedForward}, {@link io.github.dl4jmoe.layers.FineRMoeLayer},
 * {@link io.github.dl4jmoe.layers.PeerLayer} and the activation names they share. Each validates its fields and
 * describes its computation, which lives below: the routed-experts block in {@code experts}, PEER in {@code peer},
 * routing rules in {@code routing}, the runtime in {@code runtime}. Nothing below this package imports it.
 */
package io.github.dl4jmoe.layers;
