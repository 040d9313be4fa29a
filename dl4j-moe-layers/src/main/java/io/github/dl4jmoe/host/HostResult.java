package io.github.dl4jmoe.host;

import java.util.Map;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One forward pass of a {@link HostFunction}.
 *
 * @param output     the layer's output, {@code [tokens, nOut]}
 * @param saved      what the backward pass needs (the retrieved expert ids, say); may be null
 * @param statistics published with the layer's statistics after the pass
 * @param auxScore   {@code sum_j coefficient_j * aux_j} of the auxiliary losses the function computed itself (a
 *                   layer's eager path), added to the network's score; 0 for none
 * @param <S>        the type of {@code saved}
 */
public record HostResult<S>(INDArray output, S saved, Map<String, INDArray> statistics, double auxScore) {

    /** A pass without auxiliary losses. */
    public HostResult(INDArray output, S saved, Map<String, INDArray> statistics) {
        this(output, saved, statistics, 0.0);
    }

    /** The same pass with another output array (the output cast to the network's data type, say). */
    public HostResult<S> withOutput(INDArray newOutput) {
        return new HostResult<>(newOutput, saved, statistics, auxScore);
    }
}
