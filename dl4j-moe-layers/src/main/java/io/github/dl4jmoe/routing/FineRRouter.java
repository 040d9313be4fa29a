package io.github.dl4jmoe.routing;

import java.util.Objects;

import io.github.dl4jmoe.ops.TopK;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * FineRMoE's selection (Liao et al. 2026, arXiv 2603.13364, section 3): the router logits are viewed as
 * {@code [G_O, R_O, G_I R_I]} (expert {@code e = (g_o R_O + r_o) G_I R_I + i}).
 * <pre>
 *   sparse-sum mask:    the top T_I logits inside each (g_o, r_o) block (ties to the lower index)
 *   sparse-concat mask: per output group g_o, the r_o whose block has the largest sum of logits (ties to the lower)
 *   selected = both masks: k = T_I G_O experts, T_I in each output group
 *   gates = softmax over the k selected logits
 * </pre>
 * A softmax over the selected logits is the router probabilities renormalised over the selected set, so this rule
 * always renormalises. With an expert bias ({@link ExpertBias}) both masks are taken on the biased logits.
 * Any routed layer can use it when its expert count is {@code G_O R_O G_I R_I};
 * {@code FineRMoeLayer} builds it from its granularities.
 */
public class FineRRouter extends Router {

    private int blockSize = 1;
    private int topInput = 1;
    private int outputGranularity = 1;
    private int outputExpansion = 1;

    /** For Jackson. */
    public FineRRouter() {
        this.renormalize = true;
    }

    /**
     * @param blockSize         experts of one (g_o, r_o) block, G_I R_I
     * @param topInput          T_I, experts kept in each block
     * @param outputGranularity G_O
     * @param outputExpansion   R_O, blocks competing for each output group
     */
    public FineRRouter(int blockSize, int topInput, int outputGranularity, int outputExpansion) {
        this();
        this.blockSize = blockSize;
        this.topInput = topInput;
        this.outputGranularity = outputGranularity;
        this.outputExpansion = outputExpansion;
    }

    /** Experts this rule routes over, G_O R_O G_I R_I. */
    public long numExperts() {
        return (long) outputGranularity * outputExpansion * blockSize;
    }

    /** Experts each token uses, T_I G_O. */
    public int expertsPerToken() {
        return topInput * outputGranularity;
    }

    @Override
    protected SDVariable select(SameDiff sd, SDVariable logits, SDVariable probabilities, long numExperts) {
        SDVariable blocks = sd.reshape(logits, -1, blockSize);                             // [n G_O R_O, G_I R_I]
        SDVariable sparseSum = TopK.mask(sd, blocks, topInput, blockSize);
        if (outputExpansion == 1) {
            return sd.reshape(sparseSum, -1, numExperts);
        }
        SDVariable blockSums = blockSize == 1 ? blocks : blocks.sum(true, 1);             // [n G_O R_O, 1]
        SDVariable perGroup = sd.reshape(blockSums, -1, outputExpansion);                  // [n G_O, R_O]
        SDVariable bestBlock = sd.reshape(TopK.mask(sd, perGroup, 1, outputExpansion), -1, 1);  // [n G_O R_O, 1]
        return sd.reshape(sparseSum.mul(bestBlock), -1, numExperts);
    }

    /**
     * With an expert bias: both masks on {@code s + b}. FineRMoE's scores are the logits (its masks and its softmax
     * over the selected are defined on them), so this is DeepSeek-V3's {@code s_i + b_i} with s the logits; the gates
     * stay a softmax over the unbiased selected logits.
     */
    @Override
    protected SDVariable select(SameDiff sd, SDVariable logits, SDVariable probabilities, SDVariable bias,
                                long numExperts) {
        return select(sd, logits.add(bias), probabilities, numExperts);
    }

    @Override
    public double[] select(double[] logits, double[] probabilities, double[] bias, int numExperts) {
        return select(bias == null ? logits : ExpertBias.add(logits, bias), probabilities, numExperts);
    }

    @Override
    public double[] select(double[] logits, double[] probabilities, int numExperts) {
        double[] selected = new double[logits.length];
        int groupSize = outputExpansion * blockSize;
        for (int row = 0; row < logits.length; row += numExperts) {
            for (int group = 0; group < outputGranularity; group++) {
                int groupStart = row + group * groupSize;
                int best = 0;
                double bestSum = Double.NEGATIVE_INFINITY;
                for (int r = 0; r < outputExpansion; r++) {
                    double sum = 0;
                    for (int i = 0; i < blockSize; i++) {
                        sum += logits[groupStart + r * blockSize + i];
                    }
                    if (sum > bestSum) {                                 // strict: ties keep the lower r_o
                        bestSum = sum;
                        best = r;
                    }
                }
                int blockStart = groupStart + best * blockSize;
                int[] order = best(logits, blockStart, blockSize, topInput);
                for (int j = 0; j < topInput; j++) {
                    selected[blockStart + order[j]] = 1;
                }
            }
        }
        return selected;
    }

    @Override
    public void validate(String layer, long numExperts) {
        if (blockSize < 1 || outputGranularity < 1 || outputExpansion < 1) {
            throw invalid(layer, "router blocks", "G_I R_I = " + blockSize + ", G_O = " + outputGranularity
                    + ", R_O = " + outputExpansion, "must all be at least 1", "the authors use 32, 2 and 2");
        }
        if (topInput < 1 || topInput > blockSize) {
            throw invalid(layer, "router topInput (T_I)", topInput, "must be in [1, G_I R_I = " + blockSize + "]",
                    "the authors use T_I = 1");
        }
        if (numExperts() != numExperts) {
            throw invalid(layer, "router experts (G_O R_O G_I R_I)", numExperts(),
                    "must equal numExperts = " + numExperts, "size the router's blocks to the layer's experts");
        }
        if (!renormalize) {
            throw invalid(layer, "router renormalize", false, "must be true (gates are a softmax over the selected)",
                    "leave it at its default");
        }
    }

    @Override
    public boolean isDynamic() {
        return false;
    }

    public int getBlockSize() {
        return blockSize;
    }

    public void setBlockSize(int blockSize) {
        this.blockSize = blockSize;
    }

    public int getTopInput() {
        return topInput;
    }

    public void setTopInput(int topInput) {
        this.topInput = topInput;
    }

    public int getOutputGranularity() {
        return outputGranularity;
    }

    public void setOutputGranularity(int outputGranularity) {
        this.outputGranularity = outputGranularity;
    }

    public int getOutputExpansion() {
        return outputExpansion;
    }

    public void setOutputExpansion(int outputExpansion) {
        this.outputExpansion = outputExpansion;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FineRRouter other && blockSize == other.blockSize && topInput == other.topInput
                && outputGranularity == other.outputGranularity && outputExpansion == other.outputExpansion
                && renormalize == other.renormalize;
    }

    @Override
    public int hashCode() {
        return Objects.hash(blockSize, topInput, outputGranularity, outputExpansion, renormalize);
    }

    @Override
    public String toString() {
        return "FineRRouter(G_I R_I=" + blockSize + ", T_I=" + topInput + ", G_O=" + outputGranularity + ", R_O="
                + outputExpansion + ")";
    }
}
