package io.github.dl4jmoe.routing;

import java.util.Objects;

import io.github.dl4jmoe.ops.TopK;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * Static top-k routing (Shazeer et al. 2017; GShard; DeepSeekMoE): each token uses the k experts of highest router
 * probability, ties to the lower index. Gates are the raw probabilities, or renormalised over the k. With an expert
 * bias ({@link ExpertBias}) the k are those of largest {@code P_i + b_i}; their gates stay {@code P_i}.
 */
public class TopKRouter extends Router {

    public static final int DEFAULT_K = 2;

    private int k = DEFAULT_K;

    /** For Jackson. */
    public TopKRouter() {
    }

    public TopKRouter(int k) {
        this(k, false);
    }

    public TopKRouter(int k, boolean renormalize) {
        this.k = k;
        this.renormalize = renormalize;
    }

    @Override
    protected SDVariable select(SameDiff sd, SDVariable logits, SDVariable probabilities, long numExperts) {
        return TopK.mask(sd, probabilities, k, numExperts);
    }

    /** With an expert bias: the k largest {@code P_i + b_i} (DeepSeek-V3's rule with the probabilities as scores). */
    @Override
    protected SDVariable select(SameDiff sd, SDVariable logits, SDVariable probabilities, SDVariable bias,
                                long numExperts) {
        return TopK.mask(sd, probabilities.add(bias), k, numExperts);
    }

    @Override
    public double[] select(double[] logits, double[] probabilities, double[] bias, int numExperts) {
        return bias == null ? select(logits, probabilities, numExperts)
                : select(logits, ExpertBias.add(probabilities, bias), numExperts);
    }

    @Override
    public double[] select(double[] logits, double[] probabilities, int numExperts) {
        double[] selected = new double[probabilities.length];
        for (int row = 0; row < probabilities.length; row += numExperts) {
            int[] order = best(probabilities, row, numExperts, k);
            for (int j = 0; j < k; j++) {
                selected[row + order[j]] = 1;
            }
        }
        return selected;
    }

    @Override
    public void validate(String layer, long numExperts) {
        if (k < 1 || k > numExperts) {
            throw invalid(layer, "router k", k, "must be in [1, numExperts = " + numExperts + "]",
                    "use TopKRouter(" + Math.max(1, Math.min(DEFAULT_K, numExperts)) + ") or raise numExperts");
        }
    }

    @Override
    public boolean isDynamic() {
        return false;
    }

    public int getK() {
        return k;
    }

    public void setK(int k) {
        this.k = k;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TopKRouter other && k == other.k && renormalize == other.renormalize;
    }

    @Override
    public int hashCode() {
        return Objects.hash(k, renormalize);
    }

    @Override
    public String toString() {
        return "TopKRouter(k=" + k + ", renormalize=" + renormalize + ")";
    }
}
