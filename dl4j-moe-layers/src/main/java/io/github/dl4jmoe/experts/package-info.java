/**
 * The routed-experts block that every Mixture-of-Experts layer config is a thin view of
 * ({@link io.github.dl4jmoe.experts.RoutedExperts}: router logits, dispatch per output group, the optional shared
 * expert, auxiliary losses, statistics and their names), with its parts: a bank of E feed-forward experts evaluated
 * as rank-3 matrix products ({@link io.github.dl4jmoe.experts.ExpertBank}), token dispatch that groups token-expert
 * pairs by expert and combines the results ({@link io.github.dl4jmoe.experts.TokenDispatch}), and the shared expert
 * ({@link io.github.dl4jmoe.experts.SharedExpert}). Routing rules live in {@code routing}; PEER's single-neuron
 * experts live in {@code peer}.
 */
package io.github.dl4jmoe.experts;
