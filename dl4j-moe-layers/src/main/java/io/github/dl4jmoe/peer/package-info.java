/**
 * Everything of PEER (He 2024, "Mixture of A Million Experts") but its layer config: the host function that is the
 * whole layer ({@link io.github.dl4jmoe.peer.PeerRetrieval}), the query network and half scores with their backward
 * pass ({@code PeerQueries}), the product-key search ({@link io.github.dl4jmoe.peer.ProductKeySearch}), the gates
 * with their backward pass ({@code PeerGates}), the single-neuron experts with their backward pass, on the retrieved
 * rows ({@link io.github.dl4jmoe.peer.PeerExperts}, grouped by expert in {@code ExpertGroups}) or for all experts with
 * matrix products ({@code DenseExperts}; {@link io.github.dl4jmoe.peer.PeerPath} chooses), the lazy sparse updater
 * of the expert tables ({@link io.github.dl4jmoe.peer.SparseRowUpdater}), and usage counting
 * ({@link io.github.dl4jmoe.peer.RetrievalCounts}). Parameter keys and statistic names are in
 * {@link io.github.dl4jmoe.peer.PeerKeys}. The config users build is {@code layers.PeerLayer}.
 */
package io.github.dl4jmoe.peer;
