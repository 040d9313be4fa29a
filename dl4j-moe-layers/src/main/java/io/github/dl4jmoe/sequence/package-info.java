/**
 * Layers for sequence models: causal self-attention, learned positional embeddings and layer normalisation, the
 * parts of a transformer block besides its feed-forward layer. They mix or normalise whole sequences
 * {@code [mb, d, T]}, so unlike the token-wise layers in {@link io.github.dl4jmoe.layers} they run eagerly on
 * {@code runtime.SequenceLayerRuntime} (their {@code *Function} classes here), or, in GRAPH mode, on DL4J's stock
 * SameDiff runtime with its gradient doubling undone (see {@link io.github.dl4jmoe.sequence.BaseSequenceLayer}).
 * Feed-forward and Mixture-of-Experts layers do not live here.
 */
package io.github.dl4jmoe.sequence;
