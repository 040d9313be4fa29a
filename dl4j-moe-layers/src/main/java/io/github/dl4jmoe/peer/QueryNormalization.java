package io.github.dl4jmoe.peer;

/** How {@link PeerQueries} normalises the queries before the key search; none has affine parameters. */
public enum QueryNormalization {
    /** Batch statistics while training, running statistics at inference (the paper). */
    BATCH,
    /** Per head, over the key size. */
    LAYER,
    NONE
}
