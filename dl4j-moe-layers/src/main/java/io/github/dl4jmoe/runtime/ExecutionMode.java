package io.github.dl4jmoe.runtime;

/**
 * How a layer computes: its eager path or its SameDiff graph. Both compute the same function (tests hold them equal in
 * double precision); the graph is the executable specification, the eager path is what trains.
 */
public enum ExecutionMode {
    /**
     * Explicit ND4J operations with a hand-written backward pass; no graph is built or run. The default, for layers
     * that have one ({@link BaseMoeLayer#eagerFunction()}); a layer without one runs its graph.
     */
    EAGER,
    /** The layer's SameDiff graph, differentiated by SameDiff: slower and heavier on M2.1, the reference. */
    GRAPH
}
