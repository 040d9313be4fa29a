package io.github.dl4jmoe.peer;

/**
 * PEER's parameter keys, statistic names and normalisation constants, defined once for the layer config, its
 * computation and the statistics that read it.
 */
public final class PeerKeys {

    public static final String W_QUERY = "wQuery";
    public static final String SUB_KEYS_1 = "subKeys1";
    public static final String SUB_KEYS_2 = "subKeys2";
    /** The down (u) table, {@code [N, d]}. */
    public static final String DOWN = "expertDown";
    /** The up (v) table, {@code [N, nOut]}. */
    public static final String UP = "expertUp";
    public static final String RUNNING_MEAN = "queryMean";
    public static final String RUNNING_VAR = "queryVar";

    /** Statistic: retrieved expert indices, {@code [n*h, k]} (row t*h + head). */
    public static final String STAT_EXPERTS = "experts";
    /** Statistic: gate of each retrieved expert, {@code [n*h, k]}. */
    public static final String STAT_GATES = "gates";

    /** Weight of the old value in BATCH normalisation's running statistics. */
    public static final double BATCH_NORM_DECAY = 0.9;
    public static final double NORM_EPSILON = 1e-5;

    private PeerKeys() {
    }
}
