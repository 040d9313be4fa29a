/**
 * Routing statistics of MoE layers (experts per token, load per expert, dropped pairs, load entropy and KL to
 * uniform) and PEER expert usage, read from a layer after a forward pass, for listeners ({@code RoutingStatsListener})
 * and reports. The numbers are computed below, by the layers' own code ({@code experts}, {@code peer}), which also
 * defines their names; this package only reads and summarises them.
 */
package io.github.dl4jmoe.stats;
