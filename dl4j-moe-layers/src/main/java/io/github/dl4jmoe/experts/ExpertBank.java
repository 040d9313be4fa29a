package io.github.dl4jmoe.experts;

import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * E bias-free feed-forward experts {@code d -> h -> nOut}, evaluated together: expert e maps its rows of
 * {@code x [E, C, d]} to {@code act(x_e Wup_e [, x_e Wgate_e]) Wdown_e}. Rank-3 {@code mmul} is a batched product
 * on M2.1 ({@code batchMmul} crashes natively; rank-3 by rank-2 does not broadcast).
 *
 * @param up   {@code [E, d, h]}
 * @param gate {@code [E, d, h]} for gated activations, else null
 * @param down {@code [E, h, nOut]}
 */
public record ExpertBank(SDVariable up, SDVariable gate, SDVariable down, HiddenActivation activation) {

    /**
     * @param x {@code [E, C, d]}: row c of slice e is the c-th token routed to expert e
     * @return {@code [E, C, nOut]}
     */
    public SDVariable apply(SameDiff sd, SDVariable x) {
        SDVariable hidden = activation.apply(sd, x.mmul(up), gate == null ? null : x.mmul(gate));  // [E, C, h]
        return hidden.mmul(down);                                                                 // [E, C, nOut]
    }

    /**
     * Every expert on every token, weighted by the gates: the dense reference the dispatch is measured against.
     *
     * @param x     {@code [n, d]}
     * @param gates {@code [n, E]}
     * @return {@code sum_e gates[t, e] * expert_e(x_t)}, {@code [n, nOut]}
     */
    public SDVariable applyToAll(SameDiff sd, SDVariable x, SDVariable gates, int numExperts) {
        SDVariable everyToken = sd.tile(sd.expandDims(x, 0), numExperts, 1, 1);                   // [E, n, d]
        SDVariable out = apply(sd, everyToken);                                                   // [E, n, nOut]
        SDVariable weights = sd.expandDims(sd.permute(gates, 1, 0), 2);                          // [E, n, 1]
        return out.mul(weights).sum(0);                                                          // [n, nOut]
    }
}
