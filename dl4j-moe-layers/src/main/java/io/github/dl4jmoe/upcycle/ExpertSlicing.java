package io.github.dl4jmoe.upcycle;

import static io.github.dl4jmoe.upcycle.Upcycler.columns;
import static io.github.dl4jmoe.upcycle.Upcycler.invalid;
import static io.github.dl4jmoe.upcycle.Upcycler.normal;
import static io.github.dl4jmoe.upcycle.Upcycler.rows;

import java.util.Map;
import java.util.Random;

import io.github.dl4jmoe.experts.SharedExpert;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Expert weights from a dense block {@code y = act(x W_gate) * (x W_up) W_down} (W_up, W_gate {@code [d, F]},
 * W_down {@code [F, d]}), described by a {@link Plan}: which intermediate shard and output slice each expert takes,
 * and the scale of its down projection.
 */
final class ExpertSlicing {

    /**
     * @param shards       intermediate shards of the dense block (F / expert hidden)
     * @param shardOf      expert -> intermediate shard
     * @param outputGroups output slices (G_O; 1 for MoeFeedForward)
     * @param groupOf      expert -> output slice
     * @param scale        factor on each expert's down projection
     */
    private record Plan(int experts, int shards, int[] shardOf, int outputGroups, int[] groupOf, double scale) {
    }

    private ExpertSlicing() {
    }

    static void check(UpcycleMode mode, DenseSource dense, BaseMoeLayer target) {
        plan(mode, dense, target);
    }

    static void fill(UpcycleMode mode, DenseSource dense, BaseMoeLayer target, Map<String, INDArray> params,
                     double dropRatio, Random random) {
        Plan plan = plan(mode, dense, target);
        INDArray up = dense.up();
        INDArray gate = dense.gate();
        INDArray down = dense.down();
        long hidden = up.size(1) / plan.shards();
        long width = down.size(1) / plan.outputGroups();
        INDArray expertsUp = Nd4j.create(up.dataType(), plan.experts(), up.size(0), hidden);
        INDArray expertsGate = gate == null ? null : Nd4j.create(up.dataType(), plan.experts(), up.size(0), hidden);
        INDArray expertsDown = Nd4j.create(up.dataType(), plan.experts(), hidden, width);
        for (int e = 0; e < plan.experts(); e++) {
            long j = plan.shardOf()[e];
            long g = plan.groupOf()[e];
            slice(expertsUp, e).assign(columns(up, j * hidden, (j + 1) * hidden));
            if (gate != null) {
                slice(expertsGate, e).assign(columns(gate, j * hidden, (j + 1) * hidden));
            }
            slice(expertsDown, e).assign(columns(rows(down, j * hidden, (j + 1) * hidden), g * width, (g + 1) * width)
                    .mul(plan.scale()));
            if (dropRatio > 0) {
                dropUpcycle(e, up, gate, down, expertsUp, expertsGate, expertsDown, dropRatio, random);
            }
        }
        params.get(MoeFeedForward.W_EXPERT_UP).assign(expertsUp);
        if (gate != null) {
            params.get(MoeFeedForward.W_EXPERT_GATE).assign(expertsGate);
        }
        params.get(MoeFeedForward.W_EXPERT_DOWN).assign(expertsDown);

        INDArray router = params.get(MoeFeedForward.W_ROUTER);
        router.assign(mode == UpcycleMode.PRESERVING ? Nd4j.zeros(router.dataType(), router.shape())
                : normal(router, Upcycler.ROUTER_STD, random));
        if (params.containsKey(FineRMoeLayer.W_CONCAT)) {
            params.get(FineRMoeLayer.W_CONCAT).assign(Nd4j.eye(params.get(FineRMoeLayer.W_CONCAT).size(0)));
        }
        if (Upcycler.hasSharedExpert(params)) {
            fillShared(mode, dense, params, random);
        }
    }

    /** AUTHORS: the shared expert is the dense block; PRESERVING: it starts at zero so the function is unchanged. */
    private static void fillShared(UpcycleMode mode, DenseSource dense, Map<String, INDArray> params, Random random) {
        if (mode == UpcycleMode.PRESERVING) {
            params.get(SharedExpert.W_DOWN).assign(0);
        } else {
            params.get(SharedExpert.W_UP).assign(dense.up());
            if (params.containsKey(SharedExpert.W_GATE)) {
                params.get(SharedExpert.W_GATE).assign(dense.gate());
            }
            params.get(SharedExpert.W_DOWN).assign(dense.down());
        }
        if (params.containsKey(SharedExpert.W_MIX)) {
            params.get(SharedExpert.W_MIX).assign(normal(params.get(SharedExpert.W_MIX), Upcycler.ROUTER_STD, random));
        }
    }

    /**
     * Drop-Upcycling (Nakamura et al. 2025): a random subset of round(r F) intermediate units of the expert is
     * re-drawn from normal distributions with the mean and standard deviation of the dense matrices.
     */
    private static void dropUpcycle(int e, INDArray up, INDArray gate, INDArray down, INDArray expertsUp,
                                    INDArray expertsGate, INDArray expertsDown, double ratio, Random random) {
        int units = (int) expertsUp.size(2);
        java.util.List<Integer> shuffled = new java.util.ArrayList<>(
                java.util.stream.IntStream.range(0, units).boxed().toList());
        java.util.Collections.shuffle(shuffled, random);
        for (int u : shuffled.subList(0, (int) Math.round(ratio * units))) {
            redraw(slice(expertsUp, e).getColumn(u), up, random);
            if (gate != null) {
                redraw(slice(expertsGate, e).getColumn(u), gate, random);
            }
            redraw(slice(expertsDown, e).getRow(u), down, random);
        }
    }

    private static void redraw(INDArray target, INDArray statisticsOf, Random random) {
        double mean = statisticsOf.meanNumber().doubleValue();
        double std = statisticsOf.stdNumber().doubleValue();
        for (long i = 0; i < target.length(); i++) {
            target.putScalar(i, mean + std * random.nextGaussian());
        }
    }

    private static INDArray slice(INDArray rank3, long e) {
        return rank3.get(NDArrayIndex.point(e), NDArrayIndex.all(), NDArrayIndex.all());
    }

    private static Plan plan(UpcycleMode mode, DenseSource dense, BaseMoeLayer target) {
        if (target instanceof FineRMoeLayer fine) {
            return finePlan(mode, dense, fine);
        }
        if (target instanceof MoeFeedForward moe) {
            return moePlan(mode, dense, moe);
        }
        throw invalid(target, "cannot be an upcycling target", "use FineRMoeLayer or MoeFeedForward");
    }

    private static void checkActivation(DenseSource dense, BaseMoeLayer target, Object activation) {
        if (activation != dense.activation()) {
            throw invalid(target, "activation " + activation + " differs from the dense block's " + dense.activation(),
                    "use activation(" + dense.activation() + ")");
        }
    }

    private static Plan finePlan(UpcycleMode mode, DenseSource dense, FineRMoeLayer fine) {
        checkActivation(dense, fine, fine.getActivation());
        if (fine.getDFf() != dense.dFf()) {
            throw invalid(fine, "dFf " + fine.getDFf() + " differs from the dense block's " + dense.dFf(),
                    "use dFf(" + dense.dFf() + ")");
        }
        int gi = fine.getInputGranularity();
        int block = gi * fine.getInputExpansion();
        int perGroup = fine.getOutputExpansion() * block;
        int experts = (int) fine.numExperts();
        int[] shardOf = new int[experts];
        int[] groupOf = new int[experts];
        for (int e = 0; e < experts; e++) {
            shardOf[e] = (e % block) % gi;                    // j = (e mod G_I R_I) mod G_I
            groupOf[e] = e / perGroup;                        // g = e div (R_O G_I R_I)
        }
        double scale;
        switch (mode) {
            case AUTHORS:
                if (fine.getSharedHidden() != 0 && fine.getSharedHidden() != dense.dFf()) {
                    throw invalid(fine, "sharedHidden " + fine.getSharedHidden()
                                    + " cannot hold a copy of the dense block",
                            "use sharedHidden(" + dense.dFf() + ") or 0");
                }
                scale = fine.getSharedHidden() > 0 ? 1 : gi;
                break;
            case PRESERVING:
                if (fine.getTopInput() != gi) {
                    throw invalid(fine, "PRESERVING needs every intermediate shard selected, but topInput = "
                                    + fine.getTopInput() + " < inputGranularity = " + gi,
                            "function-preserving configurations have topInput = inputGranularity (any inputExpansion, "
                                    + "outputGranularity, outputExpansion); otherwise use AUTHORS");
                }
                scale = fine.expertsPerToken();                 // gates tie at 1 / k
                break;
            default:
                throw invalid(fine, "COPY makes every expert a full copy of the dense block",
                        "use MoeFeedForward with expertHidden(" + dense.dFf() + ") for COPY");
        }
        return new Plan(experts, gi, shardOf, fine.getOutputGranularity(), groupOf, scale);
    }

    private static Plan moePlan(UpcycleMode mode, DenseSource dense, MoeFeedForward moe) {
        checkActivation(dense, moe, moe.getActivation());
        long hidden = moe.getExpertHidden();
        if (dense.dFf() % hidden != 0) {
            throw invalid(moe, "expertHidden " + hidden + " does not divide the dense dFf " + dense.dFf(),
                    "use a divisor of " + dense.dFf());
        }
        int shards = (int) (dense.dFf() / hidden);
        int experts = (int) moe.getNumExperts();
        int[] shardOf = new int[experts];
        for (int e = 0; e < experts; e++) {
            shardOf[e] = e % shards;
        }
        long sharedWidth = moe.getNumSharedExperts() * moe.getSharedHidden();
        double scale;
        switch (mode) {
            case COPY:
                if (shards != 1) {
                    throw invalid(moe, "COPY needs experts as wide as the dense block, got expertHidden " + hidden,
                            "use expertHidden(" + dense.dFf() + ")");
                }
                scale = 1;
                break;
            case AUTHORS:
                if (sharedWidth != 0 && sharedWidth != dense.dFf()) {
                    throw invalid(moe, "shared experts of total width " + sharedWidth + " cannot hold the dense block",
                            "use shared experts of total width " + dense.dFf() + " or none");
                }
                scale = sharedWidth > 0 ? 1 : shards;
                break;
            default:
                if (!(moe.getRouter() instanceof TopKRouter topK) || topK.getK() != shards) {
                    throw invalid(moe, "PRESERVING needs every shard selected: top-k routing with k = "
                                    + "dFf / expertHidden = " + shards + ", got " + moe.getRouter(),
                            "use router(new TopKRouter(" + shards + ")) with numExperts a multiple of " + shards
                                    + ", or AUTHORS");
                }
                scale = topK.isRenormalize() ? shards : experts;  // gates tie at 1/k, or at 1/E without renormalising
        }
        return new Plan(experts, shards, shardOf, 1, new int[experts], scale);
    }
}
