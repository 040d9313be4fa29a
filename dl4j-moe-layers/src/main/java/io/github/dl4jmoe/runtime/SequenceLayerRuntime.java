package io.github.dl4jmoe.runtime;

import java.util.function.Consumer;

import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.RowBlocks;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;

/**
 * The eager runtime of the sequence layers (attention, positions, normalisation), which see whole sequences: the
 * layer's {@link HostFunction} receives the input {@code [mb, d, T]} (or {@code [mb, d]}) and the time-step mask
 * {@code [mb, T]} (all ones without one; {@code [mb, 1]} for 2D input), returns an output of the input's shape, and in
 * its backward pass writes its parameter gradients and returns dL/d(input). No graph is built. Layers in GRAPH mode
 * run on DL4J's stock SameDiff runtime instead.
 */
public class SequenceLayerRuntime extends HostLayerRuntime {

    private final HostFunction<?> function;
    private final Consumer<INDArray> inputCheck;
    private HostPass pass;

    /**
     * @param inputCheck throws for input the layer cannot take (called before every pass)
     */
    public SequenceLayerRuntime(NeuralNetConfiguration conf, DataType dataType, HostFunction<?> function,
                                Consumer<INDArray> inputCheck) {
        super(conf, dataType);
        this.function = function;
        this.inputCheck = inputCheck;
    }

    @Override
    protected IUpdater configuredUpdater(String key) {
        return layerConf().getUpdaterByParam(key);
    }

    @Override
    @SuppressWarnings("try") // the scope-out workspace is held, never referenced
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        applyDropOutIfNecessary(training, workspaceMgr);
        INDArray output;
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            HostPass current = forward(training);
            pass = training ? current : null;
            output = current.output();
        }
        return workspaceMgr.dup(ArrayType.ACTIVATIONS, output);
    }

    @Override
    @SuppressWarnings("try")
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        INDArray inputGradient;
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            HostPass current = pass != null && pass.matches(input, getIterationCount()) ? pass : forward(true);
            pass = null;
            for (INDArray g : gradTable.values()) {
                RowBlocks.zero(g);
            }
            inputGradient = current.call().backward(context(input.size(0), true), current.inputs(),
                    epsilon.castTo(dataType))[0].castTo(dataType);
        }
        Gradient gradient = new DefaultGradient();
        for (String key : paramTable.keySet()) {
            gradient.gradientForVariable().put(key, gradTable.get(key));
        }
        inputGradient = backpropDropOutIfPresent(inputGradient);
        return new Pair<>(gradient, workspaceMgr.dup(ArrayType.ACTIVATION_GRAD, inputGradient));
    }

    private HostPass forward(boolean training) {
        inputCheck.accept(input);
        INDArray x = input.castTo(dataType);
        long steps = x.rank() == 3 ? x.size(2) : 1;
        INDArray mask = maskArray != null ? maskArray.castTo(dataType).reshape(x.size(0), steps)
                : Nd4j.ones(dataType, x.size(0), steps);
        return forward(function, new INDArray[] {x, mask}, x.size(0), training);
    }
}
