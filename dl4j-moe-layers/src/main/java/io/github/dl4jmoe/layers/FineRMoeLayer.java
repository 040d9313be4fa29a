package io.github.dl4jmoe.layers;

import java.util.Arrays;
import java.util.List;

import io.github.dl4jmoe.experts.RoutedExperts;
import io.github.dl4jmoe.routing.FineRRouter;

/**
 * FineRMoE (Liao et al. 2026, arXiv 2603.13364): experts split the dense FFN in both the intermediate dimension
 * (granularity G_I, replicated R_I times) and the output dimension (granularity G_O, replicated R_O times), giving
 * E = G_I R_I G_O R_O experts, each a (SwiGLU) MLP d -> dFf / G_I -> nOut / G_O.
 * <pre>
 *   s = x W_r, no bias, viewed as [G_O, R_O, G_I R_I]           expert e = (g_o R_O + r_o) G_I R_I + i
 *   sparse-sum mask:    top T_I logits inside each (g_o, r_o) block (ties to the lower index)
 *   sparse-concat mask: per g_o, the r_o whose block has the largest sum of logits (ties to the lower r_o)
 *   S = both masks (k = T_I G_O experts), p = softmax over the k selected logits
 *   y = concat over g_o of sum_{e in S, group g_o} p_e E_e(x)   [then an optional nOut x nOut projection]
 *       + sigmoid(x w_s) * Shared(x)                             optional gated shared expert
 * </pre>
 * A config of the routed-experts block {@link RoutedExperts} with G_O output groups and the {@link FineRRouter}
 * selection; each output group runs through its own token dispatch, so only selected experts compute. With
 * G_O = R_O = 1 this is exactly {@link MoeFeedForward} with renormalised top-T_I routing over the same weights
 * (parameter keys match).
 */
public class FineRMoeLayer extends BaseRoutedLayer {

    /** The authors' load-balance coefficient. */
    public static final double DEFAULT_LOAD_BALANCE = 1e-3;

    private long dFf;
    private int inputGranularity = 1;
    private int outputGranularity = 1;
    private int inputExpansion = 1;
    private int outputExpansion = 1;
    private int topInput = 1;
    private boolean concatProjection;

    protected FineRMoeLayer(Builder b) {
        super(b);
        this.dFf = b.dFf;
        this.inputGranularity = b.inputGranularity;
        this.outputGranularity = b.outputGranularity;
        this.inputExpansion = b.inputExpansion;
        this.outputExpansion = b.outputExpansion;
        this.topInput = b.topInput;
        this.concatProjection = b.concatProjection;
        validate();
    }

    /** For Jackson. */
    protected FineRMoeLayer() {
        setLoadBalanceCoefficient(DEFAULT_LOAD_BALANCE);
    }

    /** E = G_I R_I G_O R_O. */
    public long numExperts() {
        return (long) inputGranularity * inputExpansion * outputGranularity * outputExpansion;
    }

    /** Experts selected per token, k = T_I G_O. */
    public int expertsPerToken() {
        return topInput * outputGranularity;
    }

    private int blockSize() {
        return inputGranularity * inputExpansion;
    }

    private long expertHidden() {
        return dFf / inputGranularity;
    }

    @Override
    public void validate() {
        validateWidths();
        require(inputGranularity >= 1, "inputGranularity", inputGranularity, "must be at least 1",
                "the authors use G_I = 32");
        require(outputGranularity >= 1, "outputGranularity", outputGranularity, "must be at least 1",
                "the authors use G_O = 2");
        require(inputExpansion >= 1, "inputExpansion", inputExpansion, "must be at least 1", "use R_I = 1");
        require(outputExpansion >= 1, "outputExpansion", outputExpansion, "must be at least 1",
                "the authors use R_O = 2");
        require(numExperts() >= 2, "numExperts (G_I R_I G_O R_O)", numExperts(), "must be at least 2",
                "raise a granularity; for a single expert use DenseFeedForward");
        require(dFf >= 1 && dFf % inputGranularity == 0, "dFf", dFf,
                "must be a positive multiple of inputGranularity = " + inputGranularity,
                "try dFf(" + inputGranularity * Math.max(1, dFf / Math.max(1, inputGranularity)) + ")");
        require(nOut == 0 || nOut % outputGranularity == 0, "nOut", nOut,
                "must be a multiple of outputGranularity = " + outputGranularity, "choose G_O dividing nOut");
        router().validate(describe(), numExperts());
        validateRouting();
        require(getSharedHidden() >= 0, "sharedHidden", getSharedHidden(), "must be >= 0",
                "use 0 for no shared expert, dFf for a full copy");
        require(!isSharedGate() || getSharedHidden() > 0, "sharedGate", true, "needs a shared expert",
                "set sharedHidden(dFf)");
    }

    /** The selection rule of this layer's granularities. */
    public FineRRouter router() {
        return new FineRRouter(blockSize(), topInput, outputGranularity, outputExpansion);
    }

    /** G_O output groups; the shared expert, if any, is one block of sharedHidden units. */
    @Override
    protected RoutedExperts.Settings settings() {
        return new RoutedExperts.Settings(nIn, nOut, numExperts(), expertHidden(), outputGranularity,
                getActivation().function(), router(), getCapacityFactor(), false, getSharedHidden(), isSharedGate(),
                concatProjection, getLoadBalanceCoefficient(), 0, 0, isExpertBias());
    }

    public long getDFf() {
        return dFf;
    }

    public void setDFf(long dFf) {
        this.dFf = dFf;
    }

    public int getInputGranularity() {
        return inputGranularity;
    }

    public void setInputGranularity(int inputGranularity) {
        this.inputGranularity = inputGranularity;
    }

    public int getOutputGranularity() {
        return outputGranularity;
    }

    public void setOutputGranularity(int outputGranularity) {
        this.outputGranularity = outputGranularity;
    }

    public int getInputExpansion() {
        return inputExpansion;
    }

    public void setInputExpansion(int inputExpansion) {
        this.inputExpansion = inputExpansion;
    }

    public int getOutputExpansion() {
        return outputExpansion;
    }

    public void setOutputExpansion(int outputExpansion) {
        this.outputExpansion = outputExpansion;
    }

    public int getTopInput() {
        return topInput;
    }

    public void setTopInput(int topInput) {
        this.topInput = topInput;
    }

    public boolean isConcatProjection() {
        return concatProjection;
    }

    public void setConcatProjection(boolean concatProjection) {
        this.concatProjection = concatProjection;
    }

    @Override
    protected List<Object> ownFields() {
        return Arrays.asList(dFf, inputGranularity, outputGranularity, inputExpansion, outputExpansion, topInput,
                concatProjection);
    }

    /**
     * Builder; nOut defaults to nIn, the load-balance coefficient to {@value #DEFAULT_LOAD_BALANCE}, the shared
     * expert's width ({@link #sharedHidden}) to 0, none (the authors use dFf, a full copy of the dense block).
     */
    @SuppressWarnings("unchecked") // DL4J declares Layer.Builder#build() as <E extends Layer> E build()
    public static class Builder extends BaseRoutedLayer.Builder<Builder> {
        private long dFf;
        private int inputGranularity = 1;
        private int outputGranularity = 1;
        private int inputExpansion = 1;
        private int outputExpansion = 1;
        private int topInput = 1;
        private boolean concatProjection;

        public Builder() {
            super(DEFAULT_LOAD_BALANCE);
        }

        /** Hidden width of the dense FFN being split; each expert has dFf / G_I. */
        public Builder dFf(long dFf) {
            this.dFf = dFf;
            return this;
        }

        /** G_I: intermediate-dimension shards; default 1. */
        public Builder inputGranularity(int inputGranularity) {
            this.inputGranularity = inputGranularity;
            return this;
        }

        /** G_O: output-dimension shards; default 1. */
        public Builder outputGranularity(int outputGranularity) {
            this.outputGranularity = outputGranularity;
            return this;
        }

        /** R_I: replicas of each intermediate shard; default 1. */
        public Builder inputExpansion(int inputExpansion) {
            this.inputExpansion = inputExpansion;
            return this;
        }

        /** R_O: replicas of each output shard; default 1. */
        public Builder outputExpansion(int outputExpansion) {
            this.outputExpansion = outputExpansion;
            return this;
        }

        /** T_I: experts kept inside each (g_o, r_o) block; default 1. */
        public Builder topInput(int topInput) {
            this.topInput = topInput;
            return this;
        }

        /** Add an nOut x nOut projection after the concatenation; default false. */
        public Builder concatProjection(boolean concatProjection) {
            this.concatProjection = concatProjection;
            return this;
        }

        @Override
        public FineRMoeLayer build() {
            return new FineRMoeLayer(this);
        }
    }
}
