package io.github.dl4jmoe.zoo;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.runtime.BaseMoeLayer;

/**
 * The feed-forward block of a zoo model, each kind with a default configuration for a model width {@code d}, sized
 * from a dense block of {@value #HIDDEN_MULTIPLIER}d hidden units. Zoo model builders also take any configured layer
 * in place of a default.
 */
public enum FeedForwardKind {
    /** {@link DenseFeedForward} with {@value #HIDDEN_MULTIPLIER}d hidden units, GELU. */
    DENSE,
    /**
     * {@link MoeFeedForward}: {@value #EXPERTS} experts of width 2d, top-2, balanced by the expert bias (DeepSeek-V3's
     * auxiliary-loss-free balancing) beside the default load-balance loss.
     */
    MOE_TOPK,
    /**
     * {@link MoeFeedForward}: {@value #EXPERTS} experts of width 2d, top-p routing with the paper's p = 0.4, balanced
     * as {@link #MOE_TOPK}. Without the bias the routers of the earlier pretrained model (150 steps) had collapsed
     * (load KL to uniform 0.79 and 0.96); with it, those of {@link PretrainedLanguageModel#MOE_TOPP} (3,000 steps)
     * are at 0.006 and 0.001.
     */
    MOE_TOPP,
    /** {@link PeerLayer}: 32^2 single-neuron experts, 4 heads of top-min(d, 32), sub-keys of size min(d, 128). */
    PEER,
    /**
     * {@link FineRMoeLayer}: the dense block's {@value #HIDDEN_MULTIPLIER}d units split 4 ways (G_I), G_O = R_O = 2,
     * T_I = 1.
     */
    FINER_MOE;

    /** Active hidden units per token, as a multiple of the model width. */
    public static final int HIDDEN_MULTIPLIER = 4;
    /** Experts of the top-k and top-p defaults. */
    public static final int EXPERTS = 8;

    private static final int PEER_EXPERTS = 32 * 32;
    private static final int PEER_HEADS = 4;
    private static final int PEER_MAX_TOP_K = 32;
    private static final int PEER_MAX_KEY_SIZE = 128;
    private static final int FINE_INPUT_GRANULARITY = 4;
    private static final int FINE_OUTPUT_GRANULARITY = 2;
    private static final int FINE_OUTPUT_EXPANSION = 2;

    /**
     * The default layer of this kind mapping {@code [tokens, d]} to {@code [tokens, d]}.
     *
     * @param d the model width; FINER_MOE needs it even, PEER at least 2
     */
    public BaseMoeLayer defaultLayer(long d) {
        if (d < 1) {
            throw new IllegalArgumentException("FeedForwardKind." + this + ": width must be positive, got " + d);
        }
        long hidden = HIDDEN_MULTIPLIER * d;
        return switch (this) {
            case DENSE -> new DenseFeedForward.Builder().nIn(d).nOut(d).dFf(hidden).build();
            case MOE_TOPK -> new MoeFeedForward.Builder().nIn(d).nOut(d).numExperts(EXPERTS)
                    .expertHidden(hidden / 2).router(new TopKRouter(2)).expertBias(true).build();
            case MOE_TOPP -> new MoeFeedForward.Builder().nIn(d).nOut(d).numExperts(EXPERTS)
                    .expertHidden(hidden / 2).router(new TopPRouter(TopPRouter.DEFAULT_P)).expertBias(true)
                    .build();
            case PEER -> new PeerLayer.Builder().nIn(d).nOut(d).numExperts(PEER_EXPERTS).heads(PEER_HEADS)
                    .topK((int) Math.min(d, PEER_MAX_TOP_K))
                    .keySize((int) Math.min(PEER_MAX_KEY_SIZE, d + (d & 1))).build();
            case FINER_MOE -> new FineRMoeLayer.Builder().nIn(d).nOut(d).dFf(hidden)
                    .inputGranularity(FINE_INPUT_GRANULARITY).outputGranularity(FINE_OUTPUT_GRANULARITY)
                    .outputExpansion(FINE_OUTPUT_EXPANSION).topInput(1).build();
        };
    }
}
