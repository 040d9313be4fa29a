package io.github.dl4jmoe.runtime;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;

/**
 * What a host computation (Java code run between graph evaluations, see {@link LayerGraph#hostInput}) can read and
 * write during one pass of a layer.
 */
public interface HostContext {

    /** The layer's tokens for this pass, {@code [n, nIn]}. */
    INDArray tokens();

    /** A parameter's live array (a view into the network's parameter vector). */
    INDArray param(String key);

    /** A parameter's gradient array, to be filled by host gradient sinks that report dense gradients. */
    INDArray gradient(String key);

    /** The updater configured for a parameter (before any NoOp substitution for host-updated parameters). */
    IUpdater configuredUpdater(String key);

    /** The value of a host input computed earlier in this pass. */
    INDArray hostValue(String name);

    /** Evaluates graph variables (in one run) for this pass's input and the host inputs computed so far. */
    INDArray[] eval(SDVariable... variables);

    boolean training();

    /** DL4J's minibatch size for this pass (gradients are sums over it; updaters divide by it). */
    long minibatch();

    /** Completed training iterations of the network (for updater bias corrections and schedules). */
    int iteration();

    int epoch();
}
