package io.github.dl4jmoe.peer;

import java.lang.ref.Reference;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import io.github.dl4jmoe.host.ScratchArrays;
import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The whole PEER layer on the host, from its one input, the tokens {@code [n, d]}: queries and half scores
 * ({@link PeerQueries}), the product-key search ({@link ProductKeySearch}), the gates over each head's k scores
 * {@code s1[i] + s2[j]} ({@link PeerGates}), and the experts {@code f(x) = sum_p g_p act(u_p . x) v_p}: on the
 * retrieved rows ({@link PeerExperts}) or, for tables small relative to the slots per token, for all experts with
 * matrix products ({@link DenseExperts}; {@link PeerPath} chooses).
 *
 * <p>Backward: the gate gradients reach the query network and the sub-keys through the selected scores only
 * ({@link PeerQueries#backward}); the expert-table gradients are applied to the retrieved rows
 * ({@code sparseTables}, by {@link SparseRowUpdater}) or reported densely to DL4J's updater.
 */
public final class PeerRetrieval implements HostFunction<PeerRetrieval.Saved> {

    /**
     * What the layer config decides.
     *
     * @param subKeys      sqrt(N)
     * @param candidates   sub-keys kept per half before combining, at least topK
     * @param sigmoidGates sigmoid gates instead of the paper's softmax over each head's k
     * @param sparseTables the layer updates the touched table rows itself (else DL4J's updater does, densely)
     */
    public record Settings(int heads, int topK, int keySize, int subKeys, int candidates, boolean sharedKeys,
                           QueryNormalization queryNorm, boolean sigmoidGates, HiddenActivation activation,
                           boolean sparseTables, long nOut) {
    }

    /**
     * What the forward pass keeps for the backward pass: queries, the tokens as doubles, expert ids and gates
     * ({@code [n*h*k]}), activations.
     */
    record Saved(PeerQueries.Forward queries, double[] x, int[] experts, double[] gates,
                 PeerExperts.Forward forward) {
    }

    private final Settings settings;
    private final PeerGates gates;
    private final PeerQueries queries;
    private final SparseRowUpdater downUpdater = new SparseRowUpdater();
    private final SparseRowUpdater upUpdater = new SparseRowUpdater();
    private final ScratchArrays expertBlocks = new ScratchArrays();

    /** Names of the sparse Adam moments in {@link #trainingState()}: table key, then ".m" or ".v". */
    static final String FIRST_MOMENT = ".m";
    static final String SECOND_MOMENT = ".v";

    public PeerRetrieval(Settings settings) {
        this.settings = settings;
        this.gates = new PeerGates(settings.topK(), settings.sigmoidGates());
        this.queries = new PeerQueries(settings.heads(), settings.keySize(), settings.subKeys(), settings.topK(),
                settings.sharedKeys(), settings.queryNorm());
    }

    @Override
    public HostResult<Saved> forward(HostContext ctx, INDArray[] inputs) {
        INDArray x = inputs[0];
        PeerQueries.Forward queried = queries.forward(ctx, x);
        int rows = (int) queried.scores1().size(0);
        int topK = settings.topK();
        ProductKeySearch.Result found = ProductKeySearch.search(queried.scores1(), queried.scores2(),
                settings.candidates(), topK);
        double[] g = gates.forward(found.scores());
        double[] tokens = HostArrays.toDoubles(x);
        PeerExperts.Forward forward = experts(ctx, found.keys()).forward(tokens, g);
        Map<String, INDArray> stats = Map.of(
                PeerKeys.STAT_EXPERTS, HostArrays.fromInts(found.keys(), rows, topK),
                PeerKeys.STAT_GATES, HostArrays.fromDoubles(g, x.dataType(), rows, topK));
        INDArray output = HostArrays.fromDoubles(forward.output(), x.dataType(), x.size(0), settings.nOut());
        return new HostResult<>(output, new Saved(queried, tokens, found.keys(), g, forward), stats);
    }

    @Override
    public INDArray[] backward(HostContext ctx, INDArray[] inputs, Saved saved, INDArray outputGradient) {
        double[] epsilon = HostArrays.toDoubles(outputGradient);
        INDArray[] queryPath = new INDArray[1];
        Consumer<double[]> gatePath = gateGrads -> queryPath[0] = queries.backward(ctx, saved.queries(),
                saved.experts(), gates.backward(saved.gates(), gateGrads));
        PeerExperts.Gradients grads;
        if (settings.sparseTables()) {
            SparseRowUpdater.Step down = step(ctx, PeerKeys.DOWN, downUpdater);
            SparseRowUpdater.Step up = step(ctx, PeerKeys.UP, upUpdater);
            grads = backward(ctx, saved, epsilon, () -> {
                SparseRowUpdater.RowUpdate downRows = down.open();
                SparseRowUpdater.RowUpdate upRows = up.open();
                return (expert, downGrad, upGrad) -> {
                    downRows.apply(expert, downGrad);
                    upRows.apply(expert, upGrad);
                };
            }, gatePath);
            Reference.reachabilityFence(down);
            Reference.reachabilityFence(up);
        } else {
            double[] downGrads = new double[Math.toIntExact(ctx.param(PeerKeys.DOWN).length())];
            double[] upGrads = new double[Math.toIntExact(ctx.param(PeerKeys.UP).length())];
            grads = backward(ctx, saved, epsilon, () -> (expert, downGrad, upGrad) -> {
                System.arraycopy(downGrad, 0, downGrads, expert * downGrad.length, downGrad.length);
                System.arraycopy(upGrad, 0, upGrads, expert * upGrad.length, upGrad.length);
            }, gatePath);
            reportDense(ctx, PeerKeys.DOWN, downGrads);
            reportDense(ctx, PeerKeys.UP, upGrads);
        }
        INDArray x = inputs[0];
        return new INDArray[] {HostArrays.fromDoubles(grads.input(), x.dataType(), x.shape()).addi(queryPath[0])};
    }

    /** The sparse Adam moments of both expert tables ({@code down.m}, {@code down.v}, ...), once a step made them. */
    @Override
    public Map<String, INDArray> trainingState() {
        Map<String, INDArray> state = new LinkedHashMap<>();
        putMoments(state, PeerKeys.DOWN, downUpdater);
        putMoments(state, PeerKeys.UP, upUpdater);
        return state;
    }

    @Override
    public void restoreTrainingState(Map<String, INDArray> state) {
        Map<String, INDArray> unknown = new LinkedHashMap<>(state);
        restoreMoments(unknown, PeerKeys.DOWN, downUpdater);
        restoreMoments(unknown, PeerKeys.UP, upUpdater);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("PEER keeps the moments of " + PeerKeys.DOWN + " and " + PeerKeys.UP
                    + ", not " + unknown.keySet());
        }
    }

    private static void putMoments(Map<String, INDArray> state, String key, SparseRowUpdater updater) {
        INDArray[] moments = updater.moments();
        if (moments.length == 2) {
            state.put(key + FIRST_MOMENT, moments[0]);
            state.put(key + SECOND_MOMENT, moments[1]);
        }
    }

    private static void restoreMoments(Map<String, INDArray> state, String key, SparseRowUpdater updater) {
        INDArray first = state.remove(key + FIRST_MOMENT);
        INDArray second = state.remove(key + SECOND_MOMENT);
        if ((first == null) != (second == null)) {
            throw new IllegalArgumentException("PEER: the saved moments of " + key + " are incomplete (need both "
                    + key + FIRST_MOMENT + " and " + key + SECOND_MOMENT + ")");
        }
        if (first != null) {
            updater.restoreMoments(first, second);
        }
    }

    private ExpertComputation experts(HostContext ctx, int[] ids) {
        INDArray down = ctx.param(PeerKeys.DOWN);
        INDArray up = ctx.param(PeerKeys.UP);
        int slots = settings.heads() * settings.topK();
        return PeerPath.current().denseExperts(down.size(0), slots)
                ? new DenseExperts(down, up, ids, slots, settings.activation(), expertBlocks)
                : new PeerExperts(down, up, ids, slots, settings.activation());
    }

    /**
     * The experts' backward pass; {@code gatePath} (the gates' and the queries' backward pass) may run in another
     * thread while the experts finish theirs: it touches neither the expert tables nor their gradients.
     */
    private PeerExperts.Gradients backward(HostContext ctx, Saved saved, double[] outputGradient,
                                           PeerExperts.RowSink tables, Consumer<double[]> gatePath) {
        return experts(ctx, saved.experts()).backward(saved.x(), saved.gates(), saved.forward(), outputGradient,
                tables, gatePath);
    }

    /** This step's sparse row updates of table {@code key}, with the updater configured for it. */
    private static SparseRowUpdater.Step step(HostContext ctx, String key, SparseRowUpdater updater) {
        return updater.step(ctx.param(key), ctx.configuredUpdater(key), ctx.iteration(), ctx.epoch(),
                ctx.minibatch());
    }

    /** Reports a dense table gradient to DL4J, whose updater then applies it. */
    private static void reportDense(HostContext ctx, String key, double[] gradient) {
        INDArray table = ctx.param(key);
        ctx.gradient(key).assign(HostArrays.fromDoubles(gradient, table.dataType(), table.shape()));
    }
}
