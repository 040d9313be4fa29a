package io.github.dl4jmoe.runtime;

import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.layers.samediff.SameDiffLayer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;

/**
 * What our DL4J runtime layers share to run a {@link HostFunction}: its context over the layer's parameter and
 * gradient views, and a forward pass kept for the backward pass that follows it. Extends DL4J's SameDiff runtime for
 * its parameter plumbing ({@code paramTable}, {@code gradTable}, views, serialization).
 */
abstract class HostLayerRuntime extends SameDiffLayer {

    protected HostLayerRuntime(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** The updater configured for a parameter, before any NoOp substitution for parameters the layer updates. */
    protected abstract IUpdater configuredUpdater(String key);

    /**
     * A host function's forward pass: its inputs' values and result. They are a function of the input and the
     * parameters, so within one training step (same input array, same iteration) the backward pass reuses them.
     */
    protected record HostPass(INDArray input, int iteration, INDArray[] inputs, HostCall<?> call) {
        boolean matches(INDArray currentInput, int currentIteration) {
            return input == currentInput && iteration == currentIteration;
        }

        INDArray output() {
            return call.result().output();
        }
    }

    /** A host function with the result of its forward pass, so that its backward pass gets its own saved state. */
    protected record HostCall<S>(HostFunction<S> function, HostResult<S> result) {
        static <S> HostCall<S> forward(HostFunction<S> function, HostContext ctx, INDArray[] values,
                                       DataType dataType) {
            HostResult<S> result = function.forward(ctx, values);
            return new HostCall<>(function, result.withOutput(result.output().castTo(dataType)));
        }

        INDArray[] backward(HostContext ctx, INDArray[] inputs, INDArray outputGradient) {
            return function.backward(ctx, inputs, result.saved(), outputGradient);
        }
    }

    /** Runs {@code function} forward on {@code values} and keeps what its backward pass needs. */
    protected HostPass forward(HostFunction<?> function, INDArray[] values, long minibatch, boolean training) {
        HostCall<?> call = HostCall.forward(function, new Host(minibatch, training), values, dataType);
        return new HostPass(input, getIterationCount(), values, call);
    }

    /** The context of one pass of this layer. */
    protected HostContext context(long minibatch, boolean training) {
        return new Host(minibatch, training);
    }

    /** The {@link HostContext} of one pass. */
    private final class Host implements HostContext {
        private final long minibatch;
        private final boolean training;

        Host(long minibatch, boolean training) {
            this.minibatch = minibatch;
            this.training = training;
        }

        @Override
        public boolean training() {
            return training;
        }

        @Override
        public INDArray param(String key) {
            return paramTable.get(key);
        }

        @Override
        public INDArray gradient(String key) {
            return gradTable.get(key);
        }

        @Override
        public IUpdater configuredUpdater(String key) {
            return HostLayerRuntime.this.configuredUpdater(key);
        }

        @Override
        public long minibatch() {
            return minibatch;
        }

        @Override
        public int iteration() {
            return getIterationCount();
        }

        @Override
        public int epoch() {
            return getEpochCount();
        }

        @Override
        public double auxScale() {
            return conf().isMiniBatch() ? minibatch : 1.0;
        }
    }
}
