package io.github.dl4jmoe.runtime;

import java.io.FilterOutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.RowBlocks;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.autodiff.samediff.array.SingleThreadArrayHolder;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.regularization.Regularization;

/**
 * The DL4J runtime layer of every {@link BaseMoeLayer}: runs the layer's eager path, or builds its SameDiff graph once
 * and runs that.
 *
 * <h2>Eager execution</h2>
 * A layer that {@link BaseMoeLayer#runsEager() runs eagerly} is a {@link HostFunction} of its tokens: the forward
 * pass returns the output, its statistics and its auxiliary score; the backward pass, given dL/d(output), writes every
 * parameter gradient, adds the auxiliary losses' gradients (scaled by {@link HostContext#auxScale()}) and returns
 * dL/d(tokens). No graph is built. What follows describes the graph path, which the eager path must equal.
 *
 * <h2>Exact gradients</h2>
 * DL4J's stock runtime seeds backprop with an "external errors" op and M2.1 returns gradients exactly twice too large.
 * This runtime instead names an explicit loss,
 * <pre>  L = sum(output * epsilon) + auxScale * sum_j coefficient_j * aux_j</pre>
 * where {@code epsilon} is dL/d(output) from the layer above, fed as a placeholder. Its gradient with respect to
 * parameters and input is exactly the chain rule's {@code J^T epsilon} plus the auxiliary terms. A layer whose output
 * is computed in Java ({@link LayerGraph#hostOutput}) backpropagates epsilon itself first; the first term is then
 * {@code sum_i sum(input_i * gradient_i)} over the host function's differentiable inputs, with the same gradients.
 *
 * <h2>Auxiliary losses</h2>
 * DL4J's loss gradients are sums over the minibatch and the updater divides by the minibatch size, while the score is
 * a minibatch mean. {@code auxScale} is therefore the minibatch size (1 when the network does not use minibatch
 * division), and {@code sum_j coefficient_j * aux_j} of the latest forward pass is reported by
 * {@link #calcRegularizationScore}, which DL4J adds to the score.
 *
 * <h2>Training and inference</h2>
 * A scalar placeholder, {@link LayerGraph#training()}, is 1 in training passes and 0 at inference. DL4J's own layer
 * dropout ({@code .dropOut(...)} on the builder) is applied to the input in training passes as in DL4J's layers.
 *
 * <h2>State</h2>
 * After backprop (that is, once per training step) the values a layer declared with {@link LayerGraph#updateState}
 * are written into their state parameters; their gradient is zero and their updater is NoOp. A state declared with
 * {@link LayerGraph#stateGradient} instead gets that value as its gradient, and DL4J's parameter step applies what
 * its updater ({@link BaseMoeLayer#stateUpdater}) makes of it.
 */
public class MoeLayerRuntime extends HostLayerRuntime {

    static final String TRAINING_KEY = "training";
    static final String EPSILON_KEY = "epsilon";
    static final String AUX_SCALE_KEY = "auxScale";
    static final String LOSS_KEY = "objective";
    private static final String SAMEDIFF_CHATTER = "Added differentiated op ";

    private LayerGraph graph;
    /** The layer's eager computation when it runs eagerly (see {@link BaseMoeLayer#runsEager()}), else null. */
    private final HostFunction<?> eager;
    /** The host output's latest training forward pass, reused by the backward pass that follows it. */
    private HostPass hostPass;
    /** The gradient views of host-updated parameters already zeroed (see {@link #zeroGradients}). */
    private final Map<String, INDArray> zeroedHostGradients = new java.util.HashMap<>();
    private double lastAuxScore;
    private Map<String, INDArray> lastStatistics = Collections.emptyMap();

    public MoeLayerRuntime(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
        BaseMoeLayer config = (BaseMoeLayer) conf.getLayer();
        this.eager = config.runsEager() ? config.eagerFunction() : null;
    }

    private BaseMoeLayer config() {
        return (BaseMoeLayer) layerConf();
    }

    /** Statistics declared with {@link LayerGraph#addStatistic} from the latest forward or backward pass. */
    public Map<String, INDArray> statistics() {
        return lastStatistics;
    }

    /**
     * Training state the layer keeps outside the parameters and DL4J's updater state
     * ({@link HostFunction#trainingState}, e.g. PEER's sparse Adam moments), for checkpoints. Live arrays; empty for
     * most layers.
     */
    public Map<String, INDArray> hostTrainingState() {
        HostFunction<?> function = hostFunction();
        return function == null ? Map.of() : function.trainingState();
    }

    /** Puts back what {@link #hostTrainingState()} returned, before the next training step. */
    public void restoreHostTrainingState(Map<String, INDArray> state) {
        HostFunction<?> function = hostFunction();
        if (function == null) {
            if (!state.isEmpty()) {
                throw new IllegalArgumentException(config().describe() + " keeps no training state, got "
                        + state.keySet());
            }
            return;
        }
        function.restoreTrainingState(state);
    }

    /** The function computing the output on the host (eager path, or the graph's host output), or null. */
    private HostFunction<?> hostFunction() {
        if (eager != null) {
            return eager;
        }
        ensureGraph();
        return graph.hostOutput() == null ? null : graph.hostOutput().function();
    }

    /** {@code sum_j coefficient_j * aux_j} of the latest forward or backward pass. */
    public double auxiliaryScore() {
        return lastAuxScore;
    }

    @Override
    @SuppressWarnings("try") // the scope-out workspace is held, never referenced
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        applyDropOutIfNecessary(training, workspaceMgr);
        INDArray result;
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            TokenRows rows = tokenRows();
            if (rows.count() == 0) {
                recordNoTokens();
                result = rows.toLayerShape(Nd4j.create(dataType, 0, config().getNOut()), config().getNOut());
            } else if (eager != null) {
                HostPass pass = eagerForward(rows, training);
                hostPass = training ? pass : null;
                record(Map.of(), pass);
                result = rows.toLayerShape(pass.output(), config().getNOut());
            } else {
                ensureGraph();
                Map<String, INDArray> ph = placeholders(rows, training, null);
                Map<String, INDArray> out = new LinkedHashMap<>();
                List<String> outputs = auxAndStatisticNames();
                HostPass pass = null;
                if (graph.hostOutput() == null) {
                    outputs.add(outputKey);
                } else {
                    pass = hostForward(ph, rows.minibatch(), training);
                    hostPass = training ? pass : null;
                    out.put(outputKey, pass.output());
                }
                if (!outputs.isEmpty()) {
                    out.putAll(sameDiff.output(ph, outputs));
                }
                record(out, pass);
                result = rows.toLayerShape(out.get(outputKey), config().getNOut());
                sameDiff.clearPlaceholders(true);
                sameDiff.clearOpInputs();
            }
        }
        return workspaceMgr.dup(ArrayType.ACTIVATIONS, result);
    }

    @Override
    @SuppressWarnings("try")
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        Gradient gradient = new DefaultGradient();
        INDArray inputGradient;
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            TokenRows rows = tokenRows();
            zeroGradients();
            if (rows.count() == 0) {
                recordNoTokens();
                inputGradient = Nd4j.zeros(input.dataType(), input.shape());
            } else if (eager != null) {
                INDArray epsilonTokens = rows.toTokens(epsilon).castTo(dataType);
                HostPass pass = hostPass != null && hostPass.matches(input, getIterationCount()) ? hostPass
                        : eagerForward(rows, true);
                hostPass = null;
                INDArray[] grads = pass.call().backward(context(rows.minibatch(), true), pass.inputs(),
                        epsilonTokens);
                record(Map.of(), pass);
                inputGradient = rows.toLayerShape(grads[0].castTo(dataType), config().getNIn());
            } else {
                ensureGraph();
                if (!sameDiff.hasGradientFunction()) {
                    createGradientFunction();
                }
                List<String> outputs = new ArrayList<>(auxAndStatisticNames());
                graph.stateUpdates().values().forEach(v -> outputs.add(v.name()));
                graph.stateGradients().values().forEach(v -> outputs.add(v.name()));
                List<String> wrt = new ArrayList<>();
                wrt.add(INPUT_KEY);
                wrt.addAll(trainableKeys());
                INDArray epsilonTokens = rows.toTokens(epsilon).castTo(dataType);
                Map<String, INDArray> ph = placeholders(rows, true, epsilonTokens);
                HostPass pass = null;
                LayerGraph.HostOutput hostOutput = graph.hostOutput();
                if (hostOutput != null) {
                    // the training forward pass of this very input is reused: no second search
                    pass = hostPass != null && hostPass.matches(input, getIterationCount()) ? hostPass
                            : hostForward(ph, rows.minibatch(), true);
                    hostPass = null;                 // used at most once: do not hold its arrays any longer
                    INDArray[] inputGrads = pass.call().backward(context(rows.minibatch(), true), pass.inputs(),
                            epsilonTokens);
                    if (inputGrads.length != hostOutput.gradients().length) {
                        throw new IllegalStateException(config().describe() + ": host backward returned "
                                + inputGrads.length + " gradients for " + hostOutput.gradients().length
                                + " differentiable inputs");
                    }
                    for (int i = 0; i < inputGrads.length; i++) {
                        ph.put(hostOutput.gradients()[i].name(), inputGrads[i].castTo(dataType));
                    }
                }
                OutAndGrad result = sameDiff.calculateGradientsAndOutputs(ph, outputs, wrt);

                Map<String, INDArray> grads = result.getGradients();
                for (Map.Entry<String, INDArray> e : gradTable.entrySet()) {
                    INDArray g = grads.get(e.getKey());
                    if (g != null) {
                        e.getValue().assign(g);
                    }
                }
                record(result.getOutputs(), pass);
                graph.stateUpdates().forEach((key, v) -> paramTable.get(key).assign(result.getOutputs().get(v.name())));
                graph.stateGradients().forEach((key, v) ->
                        gradTable.get(key).assign(result.getOutputs().get(v.name())));
                inputGradient = rows.toLayerShape(grads.get(INPUT_KEY), config().getNIn());
                sameDiff.clearPlaceholders(true);
                sameDiff.clearOpInputs();
            }
        }
        for (String key : paramTable.keySet()) {
            gradient.gradientForVariable().put(key, gradTable.get(key));
        }
        inputGradient = backpropDropOutIfPresent(inputGradient);
        return new Pair<>(gradient, workspaceMgr.dup(ArrayType.ACTIVATION_GRAD, inputGradient));
    }

    /**
     * Zeroes the gradients before a backward pass: state, parameters this configuration does not use, and those only
     * host code writes. A host-updated parameter's gradient is zeroed once per gradient view: nothing writes it
     * afterwards (its updater is NoOp, it has no regularization and the layer updates it itself), and at PEER's
     * N = 1,048,576 it is 2 GiB, whose zeroing every step would cost more than the sparse update.
     */
    private void zeroGradients() {
        Set<String> hostUpdated = config().hostUpdatedParamKeys();
        for (Map.Entry<String, INDArray> e : gradTable.entrySet()) {
            if (!hostUpdated.contains(e.getKey())) {
                RowBlocks.zero(e.getValue());
            } else if (zeroedHostGradients.get(e.getKey()) != e.getValue()) {
                RowBlocks.zero(e.getValue());
                zeroedHostGradients.put(e.getKey(), e.getValue());
            }
        }
    }

    /** L1/L2/weight-decay score of the parameters (as DL4J's own layers report it) plus the auxiliary losses. */
    @Override
    public double calcRegularizationScore(boolean backpropParamsOnly) {
        double score = 0.0;
        for (Map.Entry<String, INDArray> e : paramTable.entrySet()) {
            List<Regularization> regs = layerConf().getRegularizationByParam(e.getKey());
            if (regs != null) {
                for (Regularization r : regs) {
                    score += r.score(e.getValue(), getIterationCount(), getEpochCount());
                }
            }
        }
        return score + lastAuxScore;
    }

    // ----------------------------------------------------------------------------------------------------------------

    private TokenRows tokenRows() {
        TokenRows rows = TokenRows.of(input, maskArray, config().describe());
        long width = rows.tokens().size(1);
        if (width != config().getNIn()) {
            throw new DL4JInvalidInputException(config().describe() + ": expected input width nIn=" + config().getNIn()
                    + ", got " + width + " (input shape " + java.util.Arrays.toString(input.shape())
                    + "); check the layer below or nIn");
        }
        return rows;
    }

    private Map<String, INDArray> placeholders(TokenRows rows, boolean training, INDArray epsilonTokens) {
        Map<String, INDArray> ph = new LinkedHashMap<>();
        ph.put(INPUT_KEY, rows.tokens().castTo(dataType));
        ph.put(TRAINING_KEY, Nd4j.scalar(dataType, training ? 1.0 : 0.0));
        if (epsilonTokens != null) {
            ph.put(EPSILON_KEY, epsilonTokens);
        }
        if (epsilonTokens != null && !graph.auxLosses().isEmpty()) {
            double auxScale = conf().isMiniBatch() ? rows.minibatch() : 1.0;
            ph.put(AUX_SCALE_KEY, Nd4j.scalar(dataType, auxScale));
        }
        return ph;
    }

    /** The layer's eager forward pass on its tokens: no graph. */
    private HostPass eagerForward(TokenRows rows, boolean training) {
        return forward(eager, new INDArray[] {rows.tokens().castTo(dataType)}, rows.minibatch(), training);
    }

    @Override
    protected IUpdater configuredUpdater(String key) {
        return config().configuredUpdater(key);
    }

    /** Evaluates the host output's inputs (one graph run) and runs its forward pass; the value joins {@code ph}. */
    private HostPass hostForward(Map<String, INDArray> ph, long minibatch, boolean training) {
        LayerGraph.HostOutput hostOutput = graph.hostOutput();
        SDVariable[] inputs = hostOutput.inputs();
        Map<String, INDArray> known = new LinkedHashMap<>(ph);
        known.remove(EPSILON_KEY);
        known.remove(AUX_SCALE_KEY);
        List<String> names = new ArrayList<>();
        for (SDVariable v : inputs) {
            if (!v.isPlaceHolder()) {
                names.add(v.name());
            }
        }
        Map<String, INDArray> evaluated = names.isEmpty() ? Map.of() : sameDiff.output(known, names);
        INDArray[] values = new INDArray[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            values[i] = inputs[i].isPlaceHolder() ? ph.get(inputs[i].name()) : evaluated.get(inputs[i].name());
        }
        HostPass pass = forward(hostOutput.function(), values, minibatch, training);
        ph.put(hostOutput.value().name(), pass.output());
        return pass;
    }

    private List<String> trainableKeys() {
        List<String> keys = new ArrayList<>(paramTable.keySet());
        keys.removeIf(config()::isSelfManaged);
        return keys;
    }

    /** Host-updated parameters' gradients are not gradients DL4J should average: the layer applied them already. */
    @Override
    public boolean updaterDivideByMinibatch(String paramName) {
        return !config().hostUpdatedParamKeys().contains(paramName);
    }

    private List<String> auxAndStatisticNames() {
        List<String> names = new ArrayList<>();
        graph.auxLosses().values().forEach(a -> names.add(a.value().name()));
        graph.statistics().values().forEach(v -> names.add(v.name()));
        return names;
    }

    private void record(Map<String, INDArray> outputs, HostPass pass) {
        double aux = pass == null ? 0.0 : pass.call().result().auxScore();
        Map<String, INDArray> stats = new LinkedHashMap<>();
        if (graph != null) {
            for (LayerGraph.AuxLoss a : graph.auxLosses().values()) {
                aux += a.coefficient() * outputs.get(a.value().name()).getDouble(0);
            }
            graph.statistics().forEach((name, v) -> stats.put(name, outputs.get(v.name()).dup()));
        }
        lastAuxScore = aux;
        if (pass != null && pass.call().result().statistics() != null) {
            stats.putAll(pass.call().result().statistics());     // fresh arrays each pass: no copy
        }
        lastStatistics = Collections.unmodifiableMap(stats);
    }

    private void recordNoTokens() {
        lastAuxScore = 0.0;
        lastStatistics = Collections.emptyMap();
    }

    /**
     * M2.1's {@code createGradFunction} prints "Added differentiated op ..." to System.out for every op; those lines
     * are dropped while it runs (everything else still prints).
     */
    private void createGradientFunction() {
        PrintStream original = System.out;
        System.setOut(new PrintStream(new FilterOutputStream(original) {
            private final StringBuilder line = new StringBuilder();

            @Override
            public void write(int b) {
                line.append((char) b);
                if (b == '\n') {
                    if (!line.toString().startsWith(SAMEDIFF_CHATTER)) {
                        original.print(line);
                    }
                    line.setLength(0);
                }
            }
        }, true));
        try {
            sameDiff.createGradFunction(INPUT_KEY);
        } finally {
            System.setOut(original);
        }
    }

    private void ensureGraph() {
        if (sameDiff != null) {
            return;
        }
        BaseMoeLayer config = config();
        SameDiff sd = SameDiff.create();
        // Single-threaded holders so that parameter views can back the variables (DL4J layers are not thread safe).
        sd.setArrayHolders(new SingleThreadArrayHolder(), new SingleThreadArrayHolder(), false);
        SDVariable in = sd.placeHolder(INPUT_KEY, dataType, -1, config.getNIn());
        SDVariable training = sd.placeHolder(TRAINING_KEY, dataType);  // fed on every run, used if the layer asks
        Map<String, SDVariable> params = new LinkedHashMap<>();
        config.getLayerParams().getParamShapes().forEach((key, shape) -> params.put(key, sd.var(key, dataType, shape)));
        paramTable.forEach((key, arr) -> sd.associateArrayWithVariable(arr, sd.getVariable(key)));

        LayerGraph g = new LayerGraph(sd, in, params, config.stateParamKeys(), () -> training, config.describe());
        SDVariable out = config.defineTokens(g);
        if (out == null) {
            throw new IllegalStateException(config.describe() + ": defineTokens returned null");
        }

        SDVariable epsilon = sd.placeHolder(EPSILON_KEY, dataType, -1, config.getNOut());
        SDVariable objective;
        LayerGraph.HostOutput hostOutput = g.hostOutput();
        if (hostOutput == null) {
            objective = out.mul(epsilon).sum();
        } else {
            if (out != hostOutput.output()) {
                throw new IllegalStateException(config.describe() + ": defineTokens must return its host output");
            }
            objective = null;                 // the host backward pass turned epsilon into its inputs' gradients
            for (int i = 0; i < hostOutput.gradients().length; i++) {
                SDVariable term = hostOutput.inputs()[i].mul(hostOutput.gradients()[i]).sum();
                objective = objective == null ? term : objective.add(term);
            }
        }
        if (!g.auxLosses().isEmpty()) {
            SDVariable auxScale = sd.placeHolder(AUX_SCALE_KEY, dataType);
            SDVariable aux = null;
            for (LayerGraph.AuxLoss a : g.auxLosses().values()) {
                SDVariable term = a.value().mul(a.coefficient());
                aux = aux == null ? term : aux.add(term);
            }
            objective = objective.add(aux.mul(auxScale));
        }
        objective = sd.identity(LOSS_KEY, objective);
        sd.setLossVariables(objective);

        this.graph = g;
        this.outputVar = out;
        this.outputKey = out.name();
        this.sameDiff = sd;
    }
}
