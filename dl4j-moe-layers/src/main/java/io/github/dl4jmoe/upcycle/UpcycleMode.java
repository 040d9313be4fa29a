package io.github.dl4jmoe.upcycle;

/** How expert weights are derived from a dense feed-forward block. */
public enum UpcycleMode {
    /**
     * The FineRMoE authors' converter: expert e takes intermediate shard j = (e mod G_I R_I) mod G_I of the gate and
     * up projections and block [output slice e div (R_O G_I R_I), shard j] of the down projection, scaled by G_I
     * without a shared expert (1 with one); the shared expert is an exact copy; router and shared gate ~ N(0, 0.02).
     * Not function-preserving.
     */
    AUTHORS,
    /**
     * Function-preserving at initialisation (virtual-group style): every intermediate shard is selected once, the
     * router is zero so the gates tie at 1/k, and the down shards are scaled by k so the selected experts reassemble
     * the dense block exactly. Needs every shard selected: FineRMoE with topInput = inputGranularity, or an MoE with
     * top-k routing where k = the number of shards.
     */
    PRESERVING,
    /**
     * Sparse upcycling (Komatsuzaki et al. 2022): every expert an exact copy of the dense block, a new router; with
     * Drop-Upcycling (Nakamura et al. 2025) a fraction r of each expert's intermediate units re-initialised from the
     * dense weights' statistics.
     */
    COPY
}
