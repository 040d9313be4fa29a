package io.github.dl4jmoe.layers;

import java.util.Map;
import java.util.Objects;

import io.github.dl4jmoe.experts.RoutedExperts;
import io.github.dl4jmoe.experts.SharedExpert;
import io.github.dl4jmoe.experts.TokenDispatch;
import io.github.dl4jmoe.routing.AuxiliaryLosses;
import io.github.dl4jmoe.routing.Router;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import io.github.dl4jmoe.runtime.LayerGraph;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.linalg.api.ndarray.INDArray;

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
public class MoeFeedForward extends BaseMoeLayer {

    public static final String W_ROUTER = RoutedExperts.W_ROUTER;
    public static final String W_EXPERT_UP = RoutedExperts.W_EXPERT_UP;
    public static final String W_EXPERT_GATE = RoutedExperts.W_EXPERT_GATE;
    public static final String W_EXPERT_DOWN = RoutedExperts.W_EXPERT_DOWN;
    public static final String W_SHARED_UP = SharedExpert.W_UP;
    public static final String W_SHARED_GATE = SharedExpert.W_GATE;
    public static final String W_SHARED_DOWN = SharedExpert.W_DOWN;
    public static final String W_SHARED_MIX = SharedExpert.W_MIX;

    /** Statistic: number of experts each token selected, {@code [n]}. */
    public static final String STAT_EXPERTS_PER_TOKEN = RoutedExperts.STAT_EXPERTS_PER_TOKEN;
    /** Statistic: tokens that selected each expert, {@code [E]}. */
    public static final String STAT_LOAD = RoutedExperts.STAT_LOAD;
    /** Statistic: selected pairs dropped for lack of capacity, scalar. */
    public static final String STAT_DROPPED = RoutedExperts.STAT_DROPPED;
    /** Statistic: slots per expert, scalar. */
    public static final String STAT_CAPACITY = RoutedExperts.STAT_CAPACITY;

    public static final FfnActivation DEFAULT_ACTIVATION = FfnActivation.SWIGLU;

    private long numExperts;
    private long expertHidden;
    private FfnActivation activation = DEFAULT_ACTIVATION;
    private Router router = new TopKRouter();
    private long numSharedExperts;
    private long sharedHidden;
    private boolean sharedGate;
    private double loadBalanceCoefficient = AuxiliaryLosses.DEFAULT_LOAD_BALANCE;
    private double entropyCoefficient = AuxiliaryLosses.DEFAULT_ENTROPY;
    private double zLossCoefficient;
    private double capacityFactor = TokenDispatch.DROPLESS;
    private boolean denseCompute;

    protected MoeFeedForward(Builder b) {
        super(b);
        this.numExperts = b.numExperts;
        this.expertHidden = b.expertHidden;
        this.activation = b.activation;
        this.router = b.router;
        this.numSharedExperts = b.numSharedExperts;
        this.sharedHidden = b.sharedHidden > 0 ? b.sharedHidden : b.expertHidden;
        this.sharedGate = b.sharedGate;
        this.loadBalanceCoefficient = b.loadBalanceCoefficient;
        this.entropyCoefficient = b.entropyCoefficient;
        this.zLossCoefficient = b.zLossCoefficient;
        this.capacityFactor = b.capacityFactor;
        this.denseCompute = b.denseCompute;
        validate();
    }

    /** For Jackson. */
    protected MoeFeedForward() {
    }

    @Override
    public void validate() {
        validateWidths();
        require(numExperts >= 2, "numExperts", numExperts, "must be at least 2",
                "try numExperts(8); for a single expert use DenseFeedForward");
        require(numExperts <= Integer.MAX_VALUE, "numExperts", numExperts, "must fit an int", "use fewer experts");
        require(expertHidden >= 1, "expertHidden", expertHidden, "must be at least 1",
                "fine-grained experts use dFf / numExperts * k, e.g. expertHidden(dFf / 8)");
        require(activation != null, "activation", null, "must be set", "use FfnActivation.SWIGLU");
        require(router != null, "router", null, "must be set", "use new TopKRouter(2) or new TopPRouter(0.4)");
        router.validate(describe(), numExperts);
        require(numSharedExperts >= 0, "numSharedExperts", numSharedExperts, "must be 0 or more", "use 0 for none");
        require(numSharedExperts == 0 || sharedHidden >= 1, "sharedHidden", sharedHidden, "must be at least 1",
                "leave it unset to use expertHidden");
        require(!sharedGate || numSharedExperts > 0, "sharedGate", true, "needs shared experts",
                "set numSharedExperts(1) or sharedGate(false)");
        require(loadBalanceCoefficient >= 0, "loadBalanceCoefficient", loadBalanceCoefficient, "must be >= 0",
                "the paper uses " + AuxiliaryLosses.DEFAULT_LOAD_BALANCE);
        require(entropyCoefficient >= 0, "entropyCoefficient", entropyCoefficient, "must be >= 0",
                "the paper uses " + AuxiliaryLosses.DEFAULT_ENTROPY);
        require(zLossCoefficient >= 0, "zLossCoefficient", zLossCoefficient, "must be >= 0", "ST-MoE uses 1e-3");
        require(capacityFactor == TokenDispatch.DROPLESS || capacityFactor > 0, "capacityFactor", capacityFactor,
                "must be > 0, or 0 for dropless", "try 1.25, or 0 to never drop tokens");
    }

    /** The routed-experts block this config describes: one output group. */
    RoutedExperts.Settings settings() {
        return new RoutedExperts.Settings(nIn, nOut, numExperts, expertHidden, 1, activation.function(), router,
                capacityFactor, denseCompute, numSharedExperts * sharedHidden, sharedGate, false,
                loadBalanceCoefficient, entropyCoefficient, zLossCoefficient);
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        RoutedExperts.defineParameters(settings(), params);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        RoutedExperts.initializeParameters(params, weightInit);
    }

    @Override
    public SDVariable defineTokens(LayerGraph g) {
        return RoutedExperts.define(settings(), g);
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

    public FfnActivation getActivation() {
        return activation;
    }

    public void setActivation(FfnActivation activation) {
        this.activation = activation;
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

    public long getSharedHidden() {
        return sharedHidden;
    }

    public void setSharedHidden(long sharedHidden) {
        this.sharedHidden = sharedHidden;
    }

    public boolean isSharedGate() {
        return sharedGate;
    }

    public void setSharedGate(boolean sharedGate) {
        this.sharedGate = sharedGate;
    }

    public double getLoadBalanceCoefficient() {
        return loadBalanceCoefficient;
    }

    public void setLoadBalanceCoefficient(double loadBalanceCoefficient) {
        this.loadBalanceCoefficient = loadBalanceCoefficient;
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

    public double getCapacityFactor() {
        return capacityFactor;
    }

    public void setCapacityFactor(double capacityFactor) {
        this.capacityFactor = capacityFactor;
    }

    public boolean isDenseCompute() {
        return denseCompute;
    }

    public void setDenseCompute(boolean denseCompute) {
        this.denseCompute = denseCompute;
    }

    @Override
    public boolean equals(Object o) {
        if (!super.equals(o)) {
            return false;
        }
        MoeFeedForward that = (MoeFeedForward) o;
        return numExperts == that.numExperts && expertHidden == that.expertHidden && activation == that.activation
                && Objects.equals(router, that.router) && numSharedExperts == that.numSharedExperts
                && sharedHidden == that.sharedHidden && sharedGate == that.sharedGate
                && loadBalanceCoefficient == that.loadBalanceCoefficient
                && entropyCoefficient == that.entropyCoefficient && zLossCoefficient == that.zLossCoefficient
                && capacityFactor == that.capacityFactor && denseCompute == that.denseCompute;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), numExperts, expertHidden, activation, router, numSharedExperts,
                sharedHidden, sharedGate, loadBalanceCoefficient, entropyCoefficient, zLossCoefficient, capacityFactor,
                denseCompute);
    }

    /** Builder; nOut defaults to nIn. */
    @SuppressWarnings("unchecked") // DL4J declares Layer.Builder#build() as <E extends Layer> E build()
    public static class Builder extends BaseMoeLayer.Builder<Builder> {
        private long numExperts;
        private long expertHidden;
        private FfnActivation activation = DEFAULT_ACTIVATION;
        private Router router = new TopKRouter();
        private long numSharedExperts;
        private long sharedHidden;
        private boolean sharedGate;
        private double loadBalanceCoefficient = AuxiliaryLosses.DEFAULT_LOAD_BALANCE;
        private double entropyCoefficient = AuxiliaryLosses.DEFAULT_ENTROPY;
        private double zLossCoefficient;
        private double capacityFactor = TokenDispatch.DROPLESS;
        private boolean denseCompute;

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

        /** Expert activation; default SwiGLU. */
        public Builder activation(FfnActivation activation) {
            this.activation = activation;
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

        /** Hidden width of each shared expert; default expertHidden. */
        public Builder sharedHidden(long sharedHidden) {
            this.sharedHidden = sharedHidden;
            return this;
        }

        /** Scale the shared experts' output by {@code sigmoid(x w)} per token, as Qwen2-MoE; default false. */
        public Builder sharedGate(boolean sharedGate) {
            this.sharedGate = sharedGate;
            return this;
        }

        /** Load-balance loss coefficient alpha; default 1e-2. */
        public Builder loadBalanceCoefficient(double alpha) {
            this.loadBalanceCoefficient = alpha;
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

        /** Slots per expert as a multiple of the mean load; default 0, dropless. */
        public Builder capacityFactor(double capacityFactor) {
            this.capacityFactor = capacityFactor;
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
