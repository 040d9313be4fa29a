/**
 * Routing statistics of MoE layers (experts per token, load per expert, dropped pairs, load entropy and KL to
 * uniform), read from a layer after a forward pass, for listeners and reports. The numbers are computed in the
 * layers' graphs; this package only summarises them.
 */
package io.github.dl4jmoe.stats;
