package io.github.dl4jmoe.host;

import java.util.Map;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One forward pass of a {@link HostFunction}.
 *
 * @param output     the layer's output, {@code [tokens, nOut]}
 * @param saved      what the backward pass needs (the retrieved expert ids, say); may be null
 * @param statistics published with the layer's statistics after the pass
 * @param <S>        the type of {@code saved}
 */
public record HostResult<S>(INDArray output, S saved, Map<String, INDArray> statistics) {

    /** The same pass with another output array (the output cast to the network's data type, say). */
    public HostResult<S> withOutput(INDArray newOutput) {
        return new HostResult<>(newOutput, saved, statistics);
    }
}
