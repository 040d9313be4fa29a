/**
 * Expert computation shared by the MoE layers: a bank of E feed-forward experts evaluated as rank-3 matrix products
 * ({@link io.github.dl4jmoe.experts.ExpertBank}), and token dispatch that groups token-expert pairs by expert into
 * {@code [E, C, d]} buffers and combines the results with a segment sum ({@link io.github.dl4jmoe.experts.TokenDispatch});
 * and PEER's Java side: product-key search, single-neuron experts on retrieved table rows with their backward pass,
 * and sparse row updates. Routing rules live in {@code io.github.dl4jmoe.routing}.
 */
package io.github.dl4jmoe.experts;
