package io.github.dl4jmoe.routing;

import io.github.dl4jmoe.ops.SdOps;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/** Auxiliary router losses, each a scalar averaged over tokens. */
public final class AuxiliaryLosses {

    /** Load-balance coefficient alpha of Huang et al. 2024 (and of Switch/GShard practice). */
    public static final double DEFAULT_LOAD_BALANCE = 1e-2;
    /** Dynamic (entropy) loss coefficient beta of Huang et al. 2024. */
    public static final double DEFAULT_ENTROPY = 1e-4;

    private AuxiliaryLosses() {
    }

    /**
     * Load balance {@code E * sum_i f_i Q_i} (Huang et al. 2024 eq. 6; Fedus et al. 2021 eq. 4): f_i is the fraction
     * of tokens whose selected set contains expert i (no gradient), Q_i the mean router probability of expert i.
     *
     * @param probabilities {@code [n, E]}
     * @param selected      {@code [n, E]} 0/1
     */
    public static SDVariable loadBalance(SameDiff sd, SDVariable probabilities, SDVariable selected, long numExperts) {
        SDVariable f = SdOps.meanRows(sd, selected, numExperts);                 // [E]
        SDVariable q = SdOps.meanRows(sd, probabilities, numExperts);            // [E]
        return f.mul(q).sum().mul(numExperts);
    }

    /**
     * Dynamic loss {@code -sum_i P_i log P_i} averaged over tokens (Huang et al. 2024 eq. 5): low entropy keeps
     * top-p from selecting every expert. Computed as {@code logsumexp(l) - sum_i P_i l_i}, which equals the entropy
     * of {@code P = softmax(l)} and stays finite when some P_i underflow to 0.
     *
     * @param logits        {@code [n, E]}
     * @param probabilities {@code softmax(logits)}, {@code [n, E]}
     */
    public static SDVariable entropy(SameDiff sd, SDVariable logits, SDVariable probabilities) {
        return logSumExp(sd, logits).sub(probabilities.mul(logits).sum(1)).mean();
    }

    /** Router z-loss {@code mean_t (log sum_i exp(logit_ti))^2} (Zoph et al. 2022, ST-MoE eq. 5). */
    public static SDVariable zLoss(SameDiff sd, SDVariable logits) {
        SDVariable lse = logSumExp(sd, logits);                                   // [n]
        return lse.mul(lse).mean();
    }

    /**
     * {@code log sum_i exp(l_i)} per row, {@code [n]}, stabilised by the row maximum. Spelled out because M2.1's
     * logSumExp op loses its dimensions in SameDiff's gradient clone and its backprop then fails.
     */
    static SDVariable logSumExp(SameDiff sd, SDVariable logits) {
        SDVariable max = SdOps.stopGradient(sd, logits.max(true, 1));            // [n, 1]
        return sd.math.log(sd.math.exp(logits.sub(max)).sum(1)).add(max.reshape(-1));
    }
}
