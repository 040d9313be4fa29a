package io.github.dl4jmoe.layers;

import java.util.Arrays;
import java.util.List;

import io.github.dl4jmoe.experts.RoutedExperts;
import io.github.dl4jmoe.routing.AuxiliaryLosses;
import io.github.dl4jmoe.routing.Router;
import io.github.dl4jmoe.routing.TopKRouter;

/**
 * Mixture-of-Experts feed-forward block with fine-grained experts (DeepSeekMoE, Qwen-MoE), a config of the
 * routed-experts block {@link RoutedExperts} with one output group:
 * <pre>
 *   P = softmax(x W_router)                             router, no bias            [n, E]
 *   S, G = router rule (top-k or top-p) applied to P    selected set, gates        [n, E]
 *   y = sum_{e in S} G_e * expert_e(x)                  experts d -> h -> nOut, no biases
 *     [+ sigmoid(x w_mix) *] shared(x)                  optional always-on shared experts (Qwen2-MoE gate)
 * </pre>
 * Only the selected experts run: token-expert pairs are grouped by expert; with a capacity factor, pairs beyond an
 * expert's capacity are dropped and counted.
 *
 * <p>Auxiliary losses: load balance (alpha, default {@value AuxiliaryLosses#DEFAULT_LOAD_BALANCE}), the dynamic
 * entropy loss for top-p routers (beta, default {@value AuxiliaryLosses#DEFAULT_ENTROPY}), optional router z-loss.
 *
 * <p>Routing statistics after every pass (see {@code io.github.dl4jmoe.stats.RoutingStatistics}): experts per token,
 * load per expert, dropped pairs, capacity.
 */
public class MoeFeedForward extends BaseRoutedLayer {

    private long numExperts;
    private long expertHidden;
    private Router router = new TopKRouter();
    private long numSharedExperts;
    private double entropyCoefficient = AuxiliaryLosses.DEFAULT_ENTROPY;
    private double zLossCoefficient;
    private boolean denseCompute;

    protected MoeFeedForward(Builder b) {
        super(b);
        this.numExperts = b.numExperts;
        this.expertHidden = b.expertHidden;
        this.router = b.router;
        this.numSharedExperts = b.numSharedExperts;
        setSharedHidden(b.sharedHidden() > 0 ? b.sharedHidden() : b.expertHidden);
        this.entropyCoefficient = b.entropyCoefficient;
        this.zLossCoefficient = b.zLossCoefficient;
        this.denseCompute = b.denseCompute;
        validate();
    }

    /** For Jackson. */
    protected MoeFeedForward() {
        setLoadBalanceCoefficient(AuxiliaryLosses.DEFAULT_LOAD_BALANCE);
    }

    @Override
    public void validate() {
        validateWidths();
        require(numExperts >= 2, "numExperts", numExperts, "must be at least 2",
                "try numExperts(8); for a single expert use DenseFeedForward");
        require(numExperts <= Integer.MAX_VALUE, "numExperts", numExperts, "must fit an int", "use fewer experts");
        require(expertHidden >= 1, "expertHidden", expertHidden, "must be at least 1",
                "fine-grained experts use dFf / numExperts * k, e.g. expertHidden(dFf / 8)");
        require(router != null, "router", null, "must be set", "use new TopKRouter(2) or new TopPRouter(0.4)");
        router.validate(describe(), numExperts);
        validateRouting();
        require(numSharedExperts >= 0, "numSharedExperts", numSharedExperts, "must be 0 or more", "use 0 for none");
        require(numSharedExperts == 0 || getSharedHidden() >= 1, "sharedHidden", getSharedHidden(),
                "must be at least 1", "leave it unset to use expertHidden");
        require(!isSharedGate() || numSharedExperts > 0, "sharedGate", true, "needs shared experts",
                "set numSharedExperts(1) or sharedGate(false)");
        require(entropyCoefficient >= 0, "entropyCoefficient", entropyCoefficient, "must be >= 0",
                "the paper uses " + AuxiliaryLosses.DEFAULT_ENTROPY);
        require(zLossCoefficient >= 0, "zLossCoefficient", zLossCoefficient, "must be >= 0", "ST-MoE uses 1e-3");
    }

    /** One output group; the shared experts are one block of {@code numSharedExperts * sharedHidden} units. */
    @Override
    protected RoutedExperts.Settings settings() {
        return new RoutedExperts.Settings(nIn, nOut, numExperts, expertHidden, 1, getActivation().function(), router,
                getCapacityFactor(), denseCompute, numSharedExperts * getSharedHidden(), isSharedGate(), false,
                getLoadBalanceCoefficient(), entropyCoefficient, zLossCoefficient, isExpertBias());
    }

    @Override
    protected List<Object> ownFields() {
        return Arrays.asList(numExperts, expertHidden, router, numSharedExperts, entropyCoefficient, zLossCoefficient,
                denseCompute);
    }

    public long getNumExperts() {
        return numExperts;
    }

    public void setNumExperts(long numExperts) {
        this.numExperts = numExperts;
    }

    public long getExpertHidden() {
        return expertHidden;
    }

    public void setExpertHidden(long expertHidden) {
        this.expertHidden = expertHidden;
    }

    public Router getRouter() {
        return router;
    }

    public void setRouter(Router router) {
        this.router = router;
    }

    public long getNumSharedExperts() {
        return numSharedExperts;
    }

    public void setNumSharedExperts(long numSharedExperts) {
        this.numSharedExperts = numSharedExperts;
    }

    public double getEntropyCoefficient() {
        return entropyCoefficient;
    }

    public void setEntropyCoefficient(double entropyCoefficient) {
        this.entropyCoefficient = entropyCoefficient;
    }

    public double getZLossCoefficient() {
        return zLossCoefficient;
    }

    public void setZLossCoefficient(double zLossCoefficient) {
        this.zLossCoefficient = zLossCoefficient;
    }

    public boolean isDenseCompute() {
        return denseCompute;
    }

    public void setDenseCompute(boolean denseCompute) {
        this.denseCompute = denseCompute;
    }

    /**
     * Builder; nOut defaults to nIn, the load-balance coefficient to {@value AuxiliaryLosses#DEFAULT_LOAD_BALANCE}
     * and the shared experts' width ({@link #sharedHidden}) to expertHidden.
     */
    @SuppressWarnings("unchecked") // DL4J declares Layer.Builder#build() as <E extends Layer> E build()
    public static class Builder extends BaseRoutedLayer.Builder<Builder> {
        private long numExperts;
        private long expertHidden;
        private Router router = new TopKRouter();
        private long numSharedExperts;
        private double entropyCoefficient = AuxiliaryLosses.DEFAULT_ENTROPY;
        private double zLossCoefficient;
        private boolean denseCompute;

        public Builder() {
            super(AuxiliaryLosses.DEFAULT_LOAD_BALANCE);
        }

        /** Number of routed experts E. */
        public Builder numExperts(long numExperts) {
            this.numExperts = numExperts;
            return this;
        }

        /** Hidden width of each routed expert. */
        public Builder expertHidden(long expertHidden) {
            this.expertHidden = expertHidden;
            return this;
        }

        /** Routing rule; default {@code new TopKRouter(2)}. */
        public Builder router(Router router) {
            this.router = router;
            return this;
        }

        /** Always-on shared experts (DeepSeekMoE, Qwen-MoE); default 0. */
        public Builder numSharedExperts(long numSharedExperts) {
            this.numSharedExperts = numSharedExperts;
            return this;
        }

        /** Dynamic entropy loss coefficient beta (top-p routers only); default 1e-4. */
        public Builder entropyCoefficient(double beta) {
            this.entropyCoefficient = beta;
            return this;
        }

        /** Router z-loss coefficient; default 0 (off). */
        public Builder zLossCoefficient(double coefficient) {
            this.zLossCoefficient = coefficient;
            return this;
        }

        /** Run every expert on every token (reference and dense baseline; same output as dropless dispatch). */
        public Builder denseCompute(boolean denseCompute) {
            this.denseCompute = denseCompute;
            return this;
        }

        @Override
        public MoeFeedForward build() {
            return new MoeFeedForward(this);
        }
    }
}
