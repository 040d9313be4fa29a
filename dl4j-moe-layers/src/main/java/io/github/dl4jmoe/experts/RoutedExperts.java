package io.github.dl4jmoe.experts;

import java.util.Map;

import io.github.dl4jmoe.ops.HiddenActivation;
import io.github.dl4jmoe.ops.SdOps;
import io.github.dl4jmoe.routing.AuxiliaryLosses;
import io.github.dl4jmoe.routing.ExpertBias;
import io.github.dl4jmoe.routing.Router;
import io.github.dl4jmoe.routing.Routing;
import io.github.dl4jmoe.runtime.LayerGraph;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.weights.IWeightInit;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.weights.WeightInitUtil;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The routed-experts block that every Mixture-of-Experts layer config is a thin view of: a router, E bias-free
 * experts {@code d -> h -> nOut / G_O} in G_O output groups, an optional always-on shared expert, auxiliary losses
 * and routing statistics.
 * <pre>
 *   logits = x W_router                                   no bias                                [n, E]
 *   S, G = router rule on the logits                      selected set, gates                     [n, E]
 *                                                         [optional expert bias b moves S only]
 *   y_g = sum_{e in S, e in group g} G_e expert_e(x)      experts of group g = E / G_O consecutive [n, nOut / G_O]
 *   y = concat_g y_g  [then x nOut x nOut projection]     G_O = 1: plain MoE; G_O > 1: FineRMoE    [n, nOut]
 *     [+ sigmoid(x w_mix) *] shared(x)                    optional shared expert (Qwen2-MoE gate)
 * </pre>
 * Only the selected experts run: each group's token-expert pairs are grouped by expert ({@link TokenDispatch}); with
 * a capacity factor, pairs beyond an expert's capacity are dropped and counted.
 */
public final class RoutedExperts {

    public static final String W_ROUTER = "wRouter";
    public static final String W_EXPERT_UP = "wExpertUp";
    public static final String W_EXPERT_GATE = "wExpertGate";
    public static final String W_EXPERT_DOWN = "wExpertDown";
    /** The projection after the concatenation of the output groups. */
    public static final String W_CONCAT = "wConcat";
    /** State: the expert bias of auxiliary-loss-free balancing ({@link ExpertBias}), {@code [1, E]}. */
    public static final String EXPERT_BIAS = "expertBias";

    /**
     * Standard deviation of the default router initialisation N(0, 0.02^2): FineRMoE's converter draws the router
     * from it, and it is the usual transformer initialisation (GPT-2, BERT, Megatron's {@code init_method_std}).
     * After a LayerNorm the logits then have a standard deviation near {@code 0.02 sqrt(d)} and the router starts
     * near uniform.
     */
    public static final double DEFAULT_ROUTER_STD = 0.02;

    /** Statistic: number of experts each token selected, {@code [n]}. */
    public static final String STAT_EXPERTS_PER_TOKEN = "expertsPerToken";
    /** Statistic: tokens that selected each expert, {@code [E]}. */
    public static final String STAT_LOAD = "load";
    /** Statistic: selected pairs dropped for lack of capacity, summed over output groups, scalar. */
    public static final String STAT_DROPPED = "droppedPairs";
    /** Statistic: slots per expert (the largest over output groups), scalar. */
    public static final String STAT_CAPACITY = "capacity";

    /** Auxiliary loss: load balance ({@link AuxiliaryLosses#loadBalance}). */
    public static final String LOSS_LOAD_BALANCE = "loadBalance";
    /** Auxiliary loss: the dynamic entropy loss of top-p routing ({@link AuxiliaryLosses#entropy}). */
    public static final String LOSS_ENTROPY = "dynamicEntropy";
    /** Auxiliary loss: router z-loss ({@link AuxiliaryLosses#zLoss}). */
    public static final String LOSS_Z = "zLoss";

    /**
     * The block's configuration, as a layer config derives it.
     *
     * @param expertHidden     hidden width of each routed expert
     * @param outputGroups     G_O: experts form G_O equal groups, group g computes output columns
     *                         {@code [g nOut / G_O, (g + 1) nOut / G_O)}
     * @param capacityFactor   {@link TokenDispatch#DROPLESS} or slots per expert relative to the mean load
     * @param denseCompute     run every expert on every token instead of dispatching (a reference)
     * @param sharedHidden     hidden width of the shared expert, 0 for none
     * @param sharedGate       scale the shared expert by {@code sigmoid(x w_mix)} per token
     * @param concatProjection an nOut x nOut projection after the concatenation
     * @param loadBalance      coefficient of the load-balance loss (0: off)
     * @param entropy          coefficient of the entropy loss, applied with dynamic routers only (0: off)
     * @param zLoss            coefficient of the router z-loss (0: off)
     * @param expertBias       the router selects with the state {@link #EXPERT_BIAS} ({@link ExpertBias})
     */
    public record Settings(long nIn, long nOut, long numExperts, long expertHidden, int outputGroups,
                           HiddenActivation activation, Router router, double capacityFactor, boolean denseCompute,
                           long sharedHidden, boolean sharedGate, boolean concatProjection, double loadBalance,
                           double entropy, double zLoss, boolean expertBias) {

        long groupWidth() {
            return nOut / outputGroups;
        }

        int expertsPerGroup() {
            return (int) (numExperts / outputGroups);
        }
    }

    private RoutedExperts() {
    }

    /**
     * Declares the block's parameters, in this order: router, experts, concat projection, shared expert, expert bias
     * (last, so that enabling it leaves the other parameters where they were).
     */
    public static void defineParameters(Settings s, SDLayerParams params) {
        params.addWeightParam(W_ROUTER, s.nIn(), s.numExperts());
        params.addWeightParam(W_EXPERT_UP, s.numExperts(), s.nIn(), s.expertHidden());
        if (s.activation().isGated()) {
            params.addWeightParam(W_EXPERT_GATE, s.numExperts(), s.nIn(), s.expertHidden());
        }
        params.addWeightParam(W_EXPERT_DOWN, s.numExperts(), s.expertHidden(), s.groupWidth());
        if (s.concatProjection()) {
            params.addWeightParam(W_CONCAT, s.nOut(), s.nOut());
        }
        if (s.sharedHidden() > 0) {
            SharedExpert.define(params, s.nIn(), s.sharedHidden(), s.nOut(), s.activation(), s.sharedGate());
        }
        if (s.expertBias()) {
            params.addBiasParam(EXPERT_BIAS, 1, s.numExperts());
        }
    }

    /**
     * The router from {@code routerInit}, the expert bias at zero, every other parameter from the layer's weight init
     * with fan-in and fan-out of each expert's own matrix.
     */
    public static void initializeParameters(Map<String, INDArray> params, WeightInit weightInit,
                                            IWeightInit routerInit) {
        for (Map.Entry<String, INDArray> e : params.entrySet()) {
            INDArray p = e.getValue();
            long fanIn = p.size(p.rank() - 2);
            long fanOut = p.size(p.rank() - 1);
            switch (e.getKey()) {
                case EXPERT_BIAS -> p.assign(0);
                case W_ROUTER -> routerInit.init(fanIn, fanOut, p.shape(), 'c', p);
                default -> WeightInitUtil.initWeights(fanIn, fanOut, p.shape(), weightInit, null, 'c', p);
            }
        }
    }

    /**
     * The block on the layer's tokens {@code g.input()}, {@code [n, nIn]}, declaring its auxiliary losses and
     * statistics on {@code g}.
     *
     * @return {@code [n, nOut]}
     */
    public static SDVariable define(Settings s, LayerGraph g) {
        SameDiff sd = g.sd();
        SDVariable x = g.input();                                                          // [n, d]
        SDVariable logits = x.mmul(g.param(W_ROUTER));                                    // [n, E]
        SDVariable bias = s.expertBias() ? g.state(EXPERT_BIAS) : null;                    // [1, E]
        Routing routing = s.router().route(sd, logits, bias, s.numExperts());

        int groups = s.outputGroups();
        int perGroup = s.expertsPerGroup();
        SDVariable[] outputs = new SDVariable[groups];
        SDVariable dropped = null;
        SDVariable capacity = null;
        for (int group = 0; group < groups; group++) {
            int from = group * perGroup;
            int to = from + perGroup;
            ExpertBank bank = new ExpertBank(experts(g, W_EXPERT_UP, from, to, groups),
                    s.activation().isGated() ? experts(g, W_EXPERT_GATE, from, to, groups) : null,
                    experts(g, W_EXPERT_DOWN, from, to, groups), s.activation());
            SDVariable selected = columns(routing.selected(), from, to, groups);           // [n, E / G_O]
            SDVariable gates = columns(routing.gates(), from, to, groups);
            SDVariable groupDropped;
            SDVariable groupCapacity;
            if (s.denseCompute()) {
                outputs[group] = bank.applyToAll(sd, x, gates, perGroup);
                groupDropped = sd.constant(0.0).castTo(x.dataType());
                groupCapacity = sd.sizeAt(x, 0).castTo(x.dataType());
            } else {
                TokenDispatch dispatch = TokenDispatch.plan(sd, x, s.nIn(), selected, gates, perGroup,
                        s.capacityFactor());
                outputs[group] = dispatch.combine(bank.apply(sd, dispatch.dispatched()), s.groupWidth());
                groupDropped = dispatch.droppedPairs();
                groupCapacity = dispatch.capacity();
            }
            dropped = dropped == null ? groupDropped : dropped.add(groupDropped);
            capacity = capacity == null ? groupCapacity : sd.math.max(capacity, groupCapacity);
        }
        SDVariable y = groups == 1 ? outputs[0] : sd.concat(1, outputs);                     // [n, nOut]
        if (s.concatProjection()) {
            y = y.mmul(g.param(W_CONCAT));
        }
        if (s.sharedHidden() > 0) {
            y = y.add(SharedExpert.apply(g, x, s.activation(), s.sharedGate()));
        }

        if (s.loadBalance() > 0) {
            g.addAuxLoss(LOSS_LOAD_BALANCE, AuxiliaryLosses.loadBalance(sd, routing.probabilities(),
                    routing.selected(), s.numExperts()), s.loadBalance());
        }
        if (s.router().isDynamic() && s.entropy() > 0) {
            g.addAuxLoss(LOSS_ENTROPY, AuxiliaryLosses.entropy(sd, logits, routing.probabilities()), s.entropy());
        }
        if (s.zLoss() > 0) {
            g.addAuxLoss(LOSS_Z, AuxiliaryLosses.zLoss(sd, logits), s.zLoss());
        }
        SDVariable load = SdOps.sumRows(sd, routing.selected(), s.numExperts());           // [E]
        if (s.expertBias()) {
            g.stateGradient(EXPERT_BIAS, ExpertBias.signal(sd, load, s.numExperts()));
        }
        g.addStatistic(STAT_EXPERTS_PER_TOKEN, routing.selected().sum(1));
        g.addStatistic(STAT_LOAD, load);
        g.addStatistic(STAT_DROPPED, dropped);
        g.addStatistic(STAT_CAPACITY, capacity);
        return y;
    }

    /** Columns {@code [from, to)} of {@code [n, E]}; the whole array when there is one group. */
    private static SDVariable columns(SDVariable x, int from, int to, int groups) {
        return groups == 1 ? x : x.get(SDIndex.all(), SDIndex.interval(from, to));
    }

    /** Experts {@code [from, to)} of an expert parameter {@code [E, a, b]}; the whole one when there is one group. */
    private static SDVariable experts(LayerGraph g, String key, int from, int to, int groups) {
        SDVariable p = g.param(key);
        return groups == 1 ? p : p.get(SDIndex.interval(from, to), SDIndex.all(), SDIndex.all());
    }
}
