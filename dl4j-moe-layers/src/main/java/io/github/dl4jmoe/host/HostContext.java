package io.github.dl4jmoe.host;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;

/**
 * What a {@link HostFunction} (Java code computing a layer's output: a layer's eager path, or a host output inside
 * its graph) can read and write during one pass of a layer.
 */
public interface HostContext {

    /** A parameter's live array (a view into the network's parameter vector). */
    INDArray param(String key);

    /** A parameter's gradient array, zeroed before each backward pass, for gradients the graph does not compute. */
    INDArray gradient(String key);

    /** The updater configured for a parameter (before any NoOp substitution for host-updated parameters). */
    IUpdater configuredUpdater(String key);

    /** Whether this is a training pass (a backward pass always follows a training forward pass). */
    boolean training();

    /** DL4J's minibatch size for this pass (gradients are sums over it; updaters divide by it). */
    long minibatch();

    /** Completed training iterations of the network (for updater bias corrections and schedules). */
    int iteration();

    int epoch();

    /**
     * The factor of auxiliary-loss gradients: DL4J's loss gradients are sums over the minibatch (the updater divides
     * by its size) while auxiliary losses are means over tokens, so their gradients are scaled by the minibatch size,
     * or by 1 when the network does not divide by it.
     */
    double auxScale();
}
