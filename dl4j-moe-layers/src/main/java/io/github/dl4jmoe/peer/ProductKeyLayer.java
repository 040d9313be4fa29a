package io.github.dl4jmoe.peer;

/**
 * A layer config that retrieves experts with product keys and publishes their ids as the statistic
 * {@link PeerKeys#STAT_EXPERTS}: what readers of its statistics need to know of it, without depending on the config.
 */
public interface ProductKeyLayer {

    /** N, the experts retrieval chooses from. */
    long getNumExperts();

    /** Retrieval heads h. */
    int getHeads();

    /** Experts retrieved per head, k. */
    int getTopK();
}
