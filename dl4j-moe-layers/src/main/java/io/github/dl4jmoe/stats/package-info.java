/**
 * Routing statistics of MoE layers (experts per token, load per expert, dropped pairs, load entropy and KL to
 * uniform) and PEER expert usage, read from a layer after a forward pass, for listeners ({@code RoutingStatsListener})
 * and reports. The numbers are computed in the layers; this package only summarises them.
 */
package io.github.dl4jmoe.stats;
