package io.github.dl4jmoe.runtime;

import java.io.FilterOutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.samediff.SameDiffLayer;
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
import org.nd4j.linalg.learning.regularization.Regularization;

/**
 * The DL4J runtime layer of every {@link BaseMoeLayer}: builds the layer's SameDiff graph once and runs it.
 *
 * <h2>Exact gradients</h2>
 * DL4J's stock runtime seeds backprop with an "external errors" op and M2.1 returns gradients exactly twice too large.
 * This runtime instead names an explicit loss,
 * <pre>  L = sum(output * epsilon) + auxScale * sum_j coefficient_j * aux_j</pre>
 * where {@code epsilon} is dL/d(output) from the layer above, fed as a placeholder. Its gradient with respect to
 * parameters and input is exactly the chain rule's {@code J^T epsilon} plus the auxiliary terms.
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
 * are written into their state parameters; their gradient is zero and their updater is NoOp.
 */
public class MoeLayerRuntime extends SameDiffLayer {

    static final String TRAINING_KEY = "training";
    static final String EPSILON_KEY = "epsilon";
    static final String AUX_SCALE_KEY = "auxScale";
    static final String LOSS_KEY = "objective";
    private static final String SAMEDIFF_CHATTER = "Added differentiated op ";

    private LayerGraph graph;
    /** Host inputs of the latest training forward pass, reused by the backward pass that follows it. */
    private HostCache hostCache;
    private double lastAuxScore;
    private Map<String, INDArray> lastStatistics = Collections.emptyMap();

    public MoeLayerRuntime(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    private BaseMoeLayer config() {
        return (BaseMoeLayer) layerConf();
    }

    /** Statistics declared with {@link LayerGraph#addStatistic} from the latest forward or backward pass. */
    public Map<String, INDArray> statistics() {
        return lastStatistics;
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
            } else {
                ensureGraph();
                List<String> outputs = new ArrayList<>();
                outputs.add(outputKey);
                outputs.addAll(auxAndStatisticNames());
                Map<String, INDArray> ph = placeholders(rows, training, null);
                Map<String, INDArray> out = sameDiff.output(ph, outputs);
                record(out);
                recordHostStatistics(ph);
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
            if (rows.count() == 0) {
                recordNoTokens();
                gradTable.values().forEach(g -> g.assign(0));
                inputGradient = Nd4j.zeros(input.dataType(), input.shape());
            } else {
                ensureGraph();
                if (!sameDiff.hasGradientFunction()) {
                    createGradientFunction();
                }
                List<String> outputs = new ArrayList<>(auxAndStatisticNames());
                graph.stateUpdates().values().forEach(v -> outputs.add(v.name()));
                List<String> wrt = new ArrayList<>();
                wrt.add(INPUT_KEY);
                wrt.addAll(trainableKeys());
                wrt.addAll(hostGradientNames());
                Map<String, INDArray> ph = placeholders(rows, true, rows.toTokens(epsilon));
                hostCache = null;                    // used at most once: do not hold the gathered rows any longer
                OutAndGrad result = sameDiff.calculateGradientsAndOutputs(ph, outputs, wrt);
                Map<String, INDArray> grads = result.getGradients();
                for (Map.Entry<String, INDArray> e : gradTable.entrySet()) {
                    INDArray g = grads.get(e.getKey());
                    if (g == null) {
                        e.getValue().assign(0); // state, or a parameter this configuration does not use
                    } else {
                        e.getValue().assign(g);
                    }
                }
                record(result.getOutputs());
                recordHostStatistics(ph);
                Host host = new Host(ph, true, rows.minibatch());
                graph.hostInputs().forEach((name, h) -> {
                    if (h.gradientSink() != null) {
                        h.gradientSink().accept(host, grads.get(name));
                    }
                });
                graph.stateUpdates().forEach((key, v) -> paramTable.get(key).assign(result.getOutputs().get(v.name())));
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
        if (!graph.hostInputs().isEmpty()) {
            if (epsilonTokens != null && hostCache != null && hostCache.matches(input, getIterationCount())) {
                ph.putAll(hostCache.values());      // backprop right after the training forward pass of this input
            } else {
                Host host = new Host(ph, training, rows.minibatch());
                Map<String, INDArray> values = new LinkedHashMap<>();
                graph.hostInputs().forEach((name, h) -> {
                    INDArray value = h.computation().compute(host);
                    values.put(name, value);
                    ph.put(name, value);
                });
                hostCache = training && epsilonTokens == null ? new HostCache(input, getIterationCount(), values) : null;
            }
        }
        if (epsilonTokens != null) {
            ph.put(EPSILON_KEY, epsilonTokens.castTo(dataType));
        }
        if (epsilonTokens != null && !graph.auxLosses().isEmpty()) {
            double auxScale = conf().isMiniBatch() ? rows.minibatch() : 1.0;
            ph.put(AUX_SCALE_KEY, Nd4j.scalar(dataType, auxScale));
        }
        return ph;
    }

    private List<String> trainableKeys() {
        List<String> keys = new ArrayList<>(paramTable.keySet());
        keys.removeIf(config()::isSelfManaged);
        return keys;
    }

    private List<String> hostGradientNames() {
        List<String> names = new ArrayList<>();
        graph.hostInputs().forEach((name, h) -> {
            if (h.gradientSink() != null) {
                names.add(name);
            }
        });
        return names;
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

    private void record(Map<String, INDArray> outputs) {
        double aux = 0.0;
        for (LayerGraph.AuxLoss a : graph.auxLosses().values()) {
            aux += a.coefficient() * outputs.get(a.value().name()).getDouble(0);
        }
        lastAuxScore = aux;
        Map<String, INDArray> stats = new LinkedHashMap<>();
        graph.statistics().forEach((name, v) -> stats.put(name, outputs.get(v.name()).dup()));
        lastStatistics = Collections.unmodifiableMap(stats);
    }

    /** Adds the host inputs marked as statistics (their values are fresh arrays each pass: no copy). */
    private void recordHostStatistics(Map<String, INDArray> placeholders) {
        if (graph.hostInputs().values().stream().noneMatch(LayerGraph.HostInput::statistic)) {
            return;
        }
        Map<String, INDArray> stats = new LinkedHashMap<>(lastStatistics);
        graph.hostInputs().forEach((name, h) -> {
            if (h.statistic()) {
                stats.put(name, placeholders.get(name));
            }
        });
        lastStatistics = Collections.unmodifiableMap(stats);
    }

    /**
     * Host values are a function of the input and the parameters; within one training step (same input array, same
     * iteration) the backward pass can reuse those of the forward pass instead of searching and gathering again.
     */
    private record HostCache(INDArray input, int iteration, Map<String, INDArray> values) {
        boolean matches(INDArray currentInput, int currentIteration) {
            return input == currentInput && iteration == currentIteration;
        }
    }

    /** The {@link HostContext} of one pass: reads the placeholders computed so far. */
    private final class Host implements HostContext {
        private final Map<String, INDArray> placeholders;
        private final boolean training;
        private final long minibatch;

        Host(Map<String, INDArray> placeholders, boolean training, long minibatch) {
            this.placeholders = placeholders;
            this.training = training;
            this.minibatch = minibatch;
        }

        @Override
        public INDArray tokens() {
            return placeholders.get(INPUT_KEY);
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
        public org.nd4j.linalg.learning.config.IUpdater configuredUpdater(String key) {
            return config().configuredUpdater(key);
        }

        @Override
        public INDArray hostValue(String name) {
            return placeholders.get(name);
        }

        @Override
        public INDArray[] eval(SDVariable... variables) {
            Map<String, INDArray> known = new LinkedHashMap<>(placeholders);
            known.remove(EPSILON_KEY);
            known.remove(AUX_SCALE_KEY);
            List<String> names = new ArrayList<>();
            for (SDVariable v : variables) {
                names.add(v.name());
            }
            Map<String, INDArray> out = sameDiff.output(known, names);
            INDArray[] values = new INDArray[variables.length];
            for (int i = 0; i < values.length; i++) {
                values[i] = out.get(names.get(i));
            }
            return values;
        }

        @Override
        public boolean training() {
            return training;
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
            List<String> wrt = new ArrayList<>();
            wrt.add(INPUT_KEY);
            wrt.addAll(hostGradientNames());
            sameDiff.createGradFunction(wrt.toArray(new String[0]));
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
        SDVariable objective = out.mul(epsilon).sum();
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
