package io.github.dl4jmoe.routing;

import java.util.Objects;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Dynamic top-p routing (Huang et al. 2024, "Harder Tasks Need More Experts", arXiv 2403.07652, section 3.1):
 * sort the router probabilities in descending order and keep experts until their cumulative probability first
 * exceeds p, that expert included. Equivalently expert i is kept iff the probability mass ranked strictly ahead of it
 * is below p. Ties rank the lower index first. Gates are the raw probabilities, as in the authors' code, or
 * renormalised over the kept set; an optional cap limits the experts per token. With an expert bias
 * ({@link ExpertBias}) experts are ranked by {@code P_i + b_i} while the threshold still accumulates the unbiased
 * {@code P_i} (see {@link #select(SameDiff, SDVariable, SDVariable, SDVariable, long)}).
 *
 * <p>Cost and memory are O(n E^2) per layer call (pairwise ranking of each token's E probabilities); for hundreds of
 * experts prefer a cap or top-k.
 */
public class TopPRouter extends Router {

    /** The paper's default threshold. */
    public static final double DEFAULT_P = 0.4;
    /** No cap on experts per token. */
    public static final int NO_CAP = 0;

    private double p = DEFAULT_P;
    private int maxExperts = NO_CAP;

    /** For Jackson. */
    public TopPRouter() {
    }

    public TopPRouter(double p) {
        this(p, false, NO_CAP);
    }

    /**
     * @param maxExperts most experts per token, or {@link #NO_CAP}
     */
    public TopPRouter(double p, boolean renormalize, int maxExperts) {
        this.p = p;
        this.renormalize = renormalize;
        this.maxExperts = maxExperts;
    }

    @Override
    protected SDVariable select(SameDiff sd, SDVariable logits, SDVariable probabilities, long numExperts) {
        return keep(sd, probabilities, probabilities, numExperts);
    }

    /**
     * With an expert bias: experts are ranked by {@code P_i + b_i} and kept while the unbiased probability mass ranked
     * ahead of them is below p. The bias decides which experts fill the mass, the router's own probabilities decide
     * how much mass is enough, so the kept experts' raw gates still sum past p as without a bias. (Accumulating biased
     * scores would not be a probability mass: they need not sum to 1 nor stay positive.) Promoting an expert of small
     * P adds little mass, so a bias can raise the experts a token uses; a cap ({@code maxExperts}) bounds that.
     */
    @Override
    protected SDVariable select(SameDiff sd, SDVariable logits, SDVariable probabilities, SDVariable bias,
                                long numExperts) {
        return keep(sd, probabilities.add(bias), probabilities, numExperts);
    }

    /**
     * @param ranking the scores that order the experts, {@code [n, E]}
     * @param mass    the probabilities accumulated in that order, {@code [n, E]}
     */
    private SDVariable keep(SameDiff sd, SDVariable ranking, SDVariable mass, long numExperts) {
        SDVariable ri = sd.expandDims(ranking, 2);                                // [n, E, 1]   r_i
        SDVariable rj = sd.expandDims(ranking, 1);                                // [n, 1, E]   r_j
        SDVariable ahead = rj.gt(ri).castTo(mass.dataType())                     // [n, E, E]  j ranked ahead of i
                .add(rj.eq(ri).castTo(mass.dataType())
                        .mul(sd.constant(lowerIndex(numExperts, mass))));
        SDVariable massJ = ranking == mass ? rj : sd.expandDims(mass, 1);         // [n, 1, E]   P_j
        SDVariable massAhead = ahead.mul(massJ).sum(2);                           // [n, E]
        SDVariable selected = massAhead.lt(p).castTo(mass.dataType());
        if (maxExperts != NO_CAP) {
            SDVariable rank = ahead.sum(2);                                       // [n, E]   experts ranked ahead
            selected = selected.mul(rank.lt(maxExperts).castTo(mass.dataType()));
        }
        return selected;
    }

    /** Expert i is kept iff the mass ranked strictly ahead of it is below p (and, with a cap, its rank too). */
    @Override
    public double[] select(double[] logits, double[] probabilities, int numExperts) {
        return keep(probabilities, probabilities, numExperts);
    }

    @Override
    public double[] select(double[] logits, double[] probabilities, double[] bias, int numExperts) {
        return keep(bias == null ? probabilities : ExpertBias.add(probabilities, bias), probabilities, numExperts);
    }

    private double[] keep(double[] ranking, double[] mass, int numExperts) {
        double[] selected = new double[mass.length];
        for (int row = 0; row < mass.length; row += numExperts) {
            for (int i = 0; i < numExperts; i++) {
                double ri = ranking[row + i];
                double massAhead = 0;
                int rank = 0;
                for (int j = 0; j < numExperts; j++) {
                    double rj = ranking[row + j];
                    if (rj > ri || (rj == ri && j < i)) {
                        massAhead += mass[row + j];
                        rank++;
                    }
                }
                boolean kept = massAhead < p && (maxExperts == NO_CAP || rank < maxExperts);
                selected[row + i] = kept ? 1 : 0;
            }
        }
        return selected;
    }

    /** {@code [1, E, E]} with 1 where j < i: among equal probabilities the lower index ranks ahead. */
    private static INDArray lowerIndex(long numExperts, SDVariable like) {
        INDArray m = Nd4j.zeros(like.dataType(), 1, numExperts, numExperts);
        for (int i = 0; i < numExperts; i++) {
            for (int j = 0; j < i; j++) {
                m.putScalar(0, i, j, 1.0);
            }
        }
        return m;
    }

    @Override
    public void validate(String layer, long numExperts) {
        if (!(p > 0 && p <= 1)) {
            throw invalid(layer, "router p", p, "must be in (0, 1]", "the paper uses p = " + DEFAULT_P);
        }
        if (maxExperts < 0 || maxExperts > numExperts) {
            throw invalid(layer, "router maxExperts", maxExperts, "must be in [1, numExperts = " + numExperts
                    + "], or 0 for no cap", "use 0 or a value up to " + numExperts);
        }
    }

    @Override
    public boolean isDynamic() {
        return true;
    }

    public double getP() {
        return p;
    }

    public void setP(double p) {
        this.p = p;
    }

    public int getMaxExperts() {
        return maxExperts;
    }

    public void setMaxExperts(int maxExperts) {
        this.maxExperts = maxExperts;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TopPRouter other && p == other.p && maxExperts == other.maxExperts
                && renormalize == other.renormalize;
    }

    @Override
    public int hashCode() {
        return Objects.hash(p, maxExperts, renormalize);
    }

    @Override
    public String toString() {
        return "TopPRouter(p=" + p + ", maxExperts=" + maxExperts + ", renormalize=" + renormalize + ")";
    }
}
