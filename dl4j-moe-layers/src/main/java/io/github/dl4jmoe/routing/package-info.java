/**
 * Routing rules (which experts each token uses, with what weight) and the auxiliary losses that keep routing
 * healthy. {@link io.github.dl4jmoe.routing.TopKRouter} and {@link io.github.dl4jmoe.routing.TopPRouter} are the
 * configurable rules; {@link io.github.dl4jmoe.routing.AuxiliaryLosses} holds load balance, dynamic entropy and z-loss.
 * Expert computation and token dispatch live in {@code io.github.dl4jmoe.experts}.
 */
package io.github.dl4jmoe.routing;
