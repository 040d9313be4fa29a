/**
 * Routing rules (which experts each token uses, with what weight) and the auxiliary losses that keep routing
 * healthy: static top-k ({@link io.github.dl4jmoe.routing.TopKRouter}), dynamic top-p
 * ({@link io.github.dl4jmoe.routing.TopPRouter}, Huang et al. 2024), FineRMoE's sparse-sum and sparse-concat
 * selection ({@link io.github.dl4jmoe.routing.FineRRouter}, Liao et al. 2026), load balance, dynamic entropy and
 * z-loss ({@link io.github.dl4jmoe.routing.AuxiliaryLosses}), and auxiliary-loss-free balancing by an expert bias
 * ({@link io.github.dl4jmoe.routing.ExpertBias}, DeepSeek-V3; its step rule
 * {@link io.github.dl4jmoe.routing.ExpertBiasStep}). Any routed layer takes any rule. Expert computation and token
 * dispatch live in {@code experts}.
 */
package io.github.dl4jmoe.routing;
