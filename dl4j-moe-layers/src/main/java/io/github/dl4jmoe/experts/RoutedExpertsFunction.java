package io.github.dl4jmoe.experts;

import static io.github.dl4jmoe.host.ThreadedGemm.gemm;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.host.HostResult;
import io.github.dl4jmoe.host.RowBlocks;
import io.github.dl4jmoe.host.RowSoftmax;
import io.github.dl4jmoe.host.ScratchArrays;
import io.github.dl4jmoe.routing.ExpertBias;
import io.github.dl4jmoe.routing.Router;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The eager path of the routed-experts block ({@link RoutedExperts} is its graph and specification): the same
 * function, computed with explicit ND4J products and Java loops, and its hand-written backward pass.
 *
 * <p>Forward: router logits {@code x W_router} and their softmax; the router's selection (with the expert bias, if
 * any) and gates on the host; per output group, the selected (token, expert) pairs grouped by expert in token order,
 * pairs beyond an expert's capacity dropped ({@link TokenDispatch}'s rule); the kept pairs' rows are gathered sorted
 * by expert and each expert runs once on its block of them ({@link ExpertRows}), and its gated rows are added into
 * the tokens' output columns, token by token ({@link KeptPairs}); then the optional concat projection and shared
 * expert. The auxiliary losses and statistics are those of the graph.
 *
 * <p>Backward mirrors it: each expert's block gets its gated output gradient, the gates get
 * {@code dL/dg[t, e] = dL/dy[t] . expert_e(x_t)}, and the router logits receive the gates' gradient through the
 * softmax together with the auxiliary losses' gradients, scaled by {@link HostContext#auxScale()}. The expert bias, if
 * any, gets its step signal from the pass's load ({@link ExpertBias#signal(double[], int)}).
 */
public final class RoutedExpertsFunction implements HostFunction<RoutedExpertsFunction.Saved> {

    private final RoutedExperts.Settings s;
    private final ExpertRows expertRows = new ExpertRows();
    private final FeedForwardPass shared = new FeedForwardPass();
    private final ScratchArrays scratch = new ScratchArrays();

    public RoutedExpertsFunction(RoutedExperts.Settings settings) {
        this.s = settings;
    }

    /**
     * What the forward pass keeps for the backward pass: the kept pairs' tokens sorted by expert and the experts'
     * pass on their rows (null when no pair was kept), and the expert tables it ran with ({@link #expertTables}).
     */
    public record Saved(double[] logits, double[] probabilities, double[] selected, double[] gates, KeptPairs pairs,
                        ExpertRows.Forward experts, INDArray routed, FeedForwardPass.Forward shared, INDArray mix,
                        ExpertRows.Tables tables) {
    }

    @Override
    public HostResult<Saved> forward(HostContext ctx, INDArray[] inputs) {
        INDArray x = inputs[0];                                                        // [n, d]
        int n = (int) x.size(0);
        int experts = (int) s.numExperts();
        int nOut = (int) s.nOut();
        Router router = s.router();
        double[] logits = HostArrays.toDoubles(gemm(x, ctx.param(RoutedExperts.W_ROUTER),
                scratch.rows("logits", x.dataType(), n, experts), false, false, 1.0, 0.0));         // [n, E]
        double[] probabilities = RowSoftmax.of(logits, experts);
        double[] bias = s.expertBias() ? HostArrays.toDoubles(ctx.param(RoutedExperts.EXPERT_BIAS)) : null;  // [E]
        double[] selected = router.select(logits, probabilities, bias, experts);
        double[] gates = router.gates(probabilities, selected, experts);

        Dispatch dispatch = dispatch(selected, n);
        KeptPairs pairs = dispatch.pairs();
        INDArray routed = scratch.rows("routed", x.dataType(), n, nOut);     // the runtime copies what it hands on
        if (pairs.size() == 0) {
            RowBlocks.zero(routed);                                          // else the combine writes every row
        }
        ExpertRows.Tables tables = expertTables(ctx);
        ExpertRows.Forward pass = null;
        if (pairs.size() > 0) {
            INDArray rows = Nd4j.pullRows(x, scratch.rows("rows", x.dataType(), pairs.size(), x.size(1)), 1,
                    pairs.tokens());
            pass = expertRows.forward(tables, s.activation(), rows, pairs.starts());
            pairs.combine(pass.output(), gates, s.expertsPerGroup(), routed);
        }
        INDArray output = s.concatProjection() ? routed.mmul(ctx.param(RoutedExperts.W_CONCAT)) : routed;
        FeedForwardPass.Forward sharedPass = null;
        INDArray mix = null;
        if (s.sharedHidden() > 0) {
            sharedPass = shared.forward(sharedWeights(ctx), s.activation(), x);
            if (s.sharedGate()) {
                mix = Transforms.sigmoid(x.mmul(ctx.param(SharedExpert.W_MIX)), false);   // [n, 1]
                output = output.add(sharedPass.output().mulColumnVector(mix));
            } else {
                output = output.add(sharedPass.output());
            }
        }
        Map<String, INDArray> stats = statistics(selected, dispatch, n, x.dataType());
        Saved saved = new Saved(logits, probabilities, selected, gates, pairs, pass, routed, sharedPass, mix, tables);
        return new HostResult<>(output, saved, stats, auxScore(logits, probabilities, selected, n));
    }

    @Override
    public INDArray[] backward(HostContext ctx, INDArray[] inputs, Saved saved, INDArray outputGradient) {
        INDArray x = inputs[0];
        int n = (int) x.size(0);
        int experts = (int) s.numExperts();
        int nOut = (int) s.nOut();
        int width = (int) s.groupWidth();
        INDArray dx = scratch.rows("dx", x.dataType(), n, x.size(1));
        RowBlocks.zero(dx);
        if (saved.shared() != null) {
            INDArray dShared = outputGradient;
            if (saved.mix() != null) {
                INDArray m = saved.mix();
                dShared = outputGradient.mulColumnVector(m);
                INDArray dMix = outputGradient.mul(saved.shared().output()).sum(true, 1)   // [n, 1]
                        .muli(m).muli(m.rsub(1.0));
                ctx.gradient(SharedExpert.W_MIX).assign(x.transpose().mmul(dMix));
                dx.addi(dMix.mmul(ctx.param(SharedExpert.W_MIX).transpose()));
            }
            FeedForwardPass.Gradients g = shared.backward(sharedWeights(ctx), s.activation(), saved.shared(), dShared);
            ctx.gradient(SharedExpert.W_UP).assign(g.up());
            if (g.gate() != null) {
                ctx.gradient(SharedExpert.W_GATE).assign(g.gate());
            }
            ctx.gradient(SharedExpert.W_DOWN).assign(g.down());
            dx.addi(g.input());
        }
        INDArray dRouted = outputGradient;
        if (s.concatProjection()) {
            ctx.gradient(RoutedExperts.W_CONCAT).assign(saved.routed().transpose().mmul(outputGradient));
            dRouted = outputGradient.mmul(ctx.param(RoutedExperts.W_CONCAT).transpose());
        }
        double[] dGates = new double[n * experts];
        ExpertRows.Forward pass = saved.experts();
        if (pass != null) {
            KeptPairs pairs = saved.pairs();
            INDArray dOutRows = scratch.rows("dOut", x.dataType(), pairs.size(), width);
            pairs.backward(HostArrays.rowMajor(dRouted), pass.output(), saved.gates(), s.expertsPerGroup(), dOutRows,
                    dGates);
            ExpertRows.Tables direct = RowBlocks.rawPath() ? tables(ctx::gradient) : null;
            ExpertRows.Gradients g = expertRows.backward(saved.tables(), s.activation(), pass, dOutRows, direct);
            if (direct == null) {
                ctx.gradient(RoutedExperts.W_EXPERT_UP).assign(g.up());
                if (g.gate() != null) {
                    ctx.gradient(RoutedExperts.W_EXPERT_GATE).assign(g.gate());
                }
                ctx.gradient(RoutedExperts.W_EXPERT_DOWN).assign(g.down());
            }
            pairs.addRows(g.input(), dx);
        } else {
            RowBlocks.zero(ctx.gradient(RoutedExperts.W_EXPERT_UP));
            if (s.activation().isGated()) {
                RowBlocks.zero(ctx.gradient(RoutedExperts.W_EXPERT_GATE));
            }
            RowBlocks.zero(ctx.gradient(RoutedExperts.W_EXPERT_DOWN));
        }

        if (s.expertBias()) {                                      // the bias's step signal, see ExpertBias
            ctx.gradient(RoutedExperts.EXPERT_BIAS).assign(HostArrays.fromDoubles(
                    ExpertBias.signal(saved.selected(), experts), x.dataType(), 1, experts));
        }
        double[] dLogits = logitGradients(saved, dGates, n, ctx.auxScale());
        INDArray dl = HostArrays.copyInto(dLogits, scratch.rows("dLogits", x.dataType(), n, experts));
        gemm(x, dl, ctx.gradient(RoutedExperts.W_ROUTER), true, false, 1.0, 0.0);
        gemm(dl, ctx.param(RoutedExperts.W_ROUTER), dx, false, true, 1.0, 1.0);
        return new INDArray[] {dx};
    }

    /**
     * dL/dlogits: the gates' gradient back through the (renormalised) gates and the softmax, plus the auxiliary
     * losses' gradients times {@code scale}.
     */
    private double[] logitGradients(Saved saved, double[] dGates, int n, double scale) {
        int experts = (int) s.numExperts();
        double[] p = saved.probabilities();
        double[] sel = saved.selected();
        double[] dp = new double[p.length];
        double[] load = s.loadBalance() > 0 ? columnMeans(sel, experts) : null;
        for (int row = 0; row < p.length; row += experts) {
            if (s.router().isRenormalize()) {                     // g = a / sum(a), a = P * sel
                double sum = 0;
                double dot = 0;
                for (int e = row; e < row + experts; e++) {
                    sum += p[e] * sel[e];
                    dot += dGates[e] * saved.gates()[e];
                }
                for (int e = row; e < row + experts; e++) {
                    dp[e] = sel[e] * (dGates[e] - dot) / sum;
                }
            } else {
                for (int e = row; e < row + experts; e++) {
                    dp[e] = sel[e] * dGates[e];
                }
            }
            if (load != null) {                                   // d(E sum_i f_i mean_t P_ti) / dP_ti = E f_i / n
                for (int e = 0; e < experts; e++) {
                    dp[row + e] += scale * s.loadBalance() * experts * load[e] / n;
                }
            }
        }
        double[] dl = new double[p.length];
        double[] l = saved.logits();
        boolean entropy = s.router().isDynamic() && s.entropy() > 0;
        for (int row = 0; row < p.length; row += experts) {
            double pDotDp = 0;
            double pDotL = 0;
            for (int e = row; e < row + experts; e++) {
                pDotDp += p[e] * dp[e];
                pDotL += p[e] * l[e];
            }
            double lse = s.zLoss() > 0 ? logSumExp(l, row, experts) : 0;
            for (int e = row; e < row + experts; e++) {
                dl[e] = p[e] * (dp[e] - pDotDp);                             // softmax backward
                if (entropy) {                                               // d(lse - sum P l)/dl = -P (l - P.l)
                    dl[e] -= scale * s.entropy() * p[e] * (l[e] - pDotL) / n;
                }
                if (s.zLoss() > 0) {                                         // d(lse^2)/dl = 2 lse P
                    dl[e] += scale * s.zLoss() * 2 * lse * p[e] / n;
                }
            }
        }
        return dl;
    }

    /** {@code sum_j coefficient_j * aux_j}, the auxiliary losses as the graph defines them. */
    private double auxScore(double[] logits, double[] probabilities, double[] selected, int n) {
        int experts = (int) s.numExperts();
        double score = 0;
        if (s.loadBalance() > 0) {
            double[] f = columnMeans(selected, experts);
            double[] q = columnMeans(probabilities, experts);
            double sum = 0;
            for (int e = 0; e < experts; e++) {
                sum += f[e] * q[e];
            }
            score += s.loadBalance() * experts * sum;
        }
        boolean entropy = s.router().isDynamic() && s.entropy() > 0;
        if (entropy || s.zLoss() > 0) {
            double entropySum = 0;
            double zSum = 0;
            for (int row = 0; row < logits.length; row += experts) {
                double lse = logSumExp(logits, row, experts);
                double pDotL = 0;
                for (int e = row; e < row + experts; e++) {
                    pDotL += probabilities[e] * logits[e];
                }
                entropySum += lse - pDotL;
                zSum += lse * lse;
            }
            if (entropy) {
                score += s.entropy() * entropySum / n;
            }
            if (s.zLoss() > 0) {
                score += s.zLoss() * zSum / n;
            }
        }
        return score;
    }

    /**
     * The kept pairs ({@link KeptPairs}: sorted by expert, in token order within one), and the capacity and drops of
     * the pass.
     */
    private record Dispatch(KeptPairs pairs, long dropped, long capacity) {
    }

    /**
     * {@link TokenDispatch}'s rule per output group: pair (t, e) is kept when fewer than C earlier tokens chose e;
     * C is the group's largest load (dropless) or {@code max(1, ceil(factor * pairs / experts of the group))}.
     * With dense compute every expert runs on every token (the reference the dispatch is measured against), nothing
     * is dropped and the capacity reads n, as in the graph.
     */
    private Dispatch dispatch(double[] selected, int n) {
        int experts = (int) s.numExperts();
        int perGroup = s.expertsPerGroup();
        int[] load = new int[experts];
        for (int i = 0; i < selected.length; i++) {
            if (selected[i] != 0) {
                load[i % experts]++;
            }
        }
        int[] keep = new int[experts];
        long dropped = 0;
        long capacity = 0;
        for (int group = 0; group < s.outputGroups(); group++) {
            int maxLoad = 0;
            long pairs = 0;
            for (int e = group * perGroup; e < (group + 1) * perGroup; e++) {
                maxLoad = Math.max(maxLoad, load[e]);
                pairs += load[e];
            }
            long c = s.capacityFactor() == TokenDispatch.DROPLESS || s.denseCompute() ? maxLoad
                    : Math.max(1, (long) Math.ceil(pairs * (s.capacityFactor() / perGroup)));
            capacity = Math.max(capacity, c);
            for (int e = group * perGroup; e < (group + 1) * perGroup; e++) {
                keep[e] = s.denseCompute() ? n : (int) Math.min(load[e], c);   // dense: all tokens, unselected gate 0
                dropped += s.denseCompute() ? 0 : load[e] - keep[e];
            }
        }
        int[] starts = new int[experts + 1];
        for (int e = 0; e < experts; e++) {
            starts[e + 1] = starts[e] + keep[e];
        }
        int[] tokens = new int[starts[experts]];
        int[] next = java.util.Arrays.copyOf(starts, experts);
        for (int t = 0; t < n; t++) {                                    // token order within each expert
            for (int e = 0; e < experts; e++) {
                if (next[e] < starts[e + 1] && (s.denseCompute() || selected[t * experts + e] != 0)) {
                    tokens[next[e]++] = t;
                }
            }
        }
        return new Dispatch(new KeptPairs(tokens, starts, n), dropped, s.denseCompute() ? n : capacity);
    }

    private Map<String, INDArray> statistics(double[] selected, Dispatch dispatch, int n, DataType type) {
        int experts = (int) s.numExperts();
        double[] perToken = new double[n];
        double[] load = new double[experts];
        for (int t = 0; t < n; t++) {
            for (int e = 0; e < experts; e++) {
                perToken[t] += selected[t * experts + e];
                load[e] += selected[t * experts + e];
            }
        }
        Map<String, INDArray> stats = new LinkedHashMap<>();
        stats.put(RoutedExperts.STAT_EXPERTS_PER_TOKEN, HostArrays.fromDoubles(perToken, type, n));
        stats.put(RoutedExperts.STAT_LOAD, HostArrays.fromDoubles(load, type, experts));
        stats.put(RoutedExperts.STAT_DROPPED, Nd4j.scalar(type, (double) dispatch.dropped()));
        stats.put(RoutedExperts.STAT_CAPACITY, Nd4j.scalar(type, (double) dispatch.capacity()));
        return stats;
    }

    /**
     * The expert tables: on the CPU path ({@link RowBlocks#rawPath()}) the parameter views themselves, whose rows
     * {@link RowBlocks} addresses directly; elsewhere copies into arrays this instance reuses (ND4J's slices of a
     * parameter view are not safe on M2.1). Parameters change only after the backward pass, so either serves both.
     */
    private ExpertRows.Tables expertTables(HostContext ctx) {
        return tables(RowBlocks.rawPath() ? ctx::param : key -> {
            INDArray param = ctx.param(key);
            return scratch.get(key, param.dataType(), param.shape()).assign(param);
        });
    }

    /** The up, gate (gated activations only) and down tables, each as {@code table} gives it by parameter key. */
    private ExpertRows.Tables tables(Function<String, INDArray> table) {
        return new ExpertRows.Tables(table.apply(RoutedExperts.W_EXPERT_UP),
                s.activation().isGated() ? table.apply(RoutedExperts.W_EXPERT_GATE) : null,
                table.apply(RoutedExperts.W_EXPERT_DOWN));
    }

    private FeedForwardPass.Weights sharedWeights(HostContext ctx) {
        return FeedForwardPass.Weights.of(ctx.param(SharedExpert.W_UP),
                s.activation().isGated() ? ctx.param(SharedExpert.W_GATE) : null, ctx.param(SharedExpert.W_DOWN));
    }

    private static double logSumExp(double[] logits, int from, int width) {
        double max = Double.NEGATIVE_INFINITY;
        for (int e = from; e < from + width; e++) {
            max = Math.max(max, logits[e]);
        }
        double sum = 0;
        for (int e = from; e < from + width; e++) {
            sum += Math.exp(logits[e] - max);
        }
        return Math.log(sum) + max;
    }

    /** Column means of a row-major {@code [n, width]} matrix. */
    private static double[] columnMeans(double[] values, int width) {
        double[] mean = new double[width];
        int rows = values.length / width;
        for (int row = 0; row < values.length; row += width) {
            for (int e = 0; e < width; e++) {
                mean[e] += values[row + e];
            }
        }
        for (int e = 0; e < width; e++) {
            mean[e] /= rows;
        }
        return mean;
    }
}
