package io.github.dl4jmoe.layers;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import io.github.dl4jmoe.experts.RoutedExperts;
import io.github.dl4jmoe.experts.RoutedExpertsFunction;
import io.github.dl4jmoe.experts.SharedExpert;
import io.github.dl4jmoe.experts.TokenDispatch;
import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.routing.ExpertBias;
import io.github.dl4jmoe.routing.ExpertBiasStep;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import io.github.dl4jmoe.runtime.LayerGraph;
import org.deeplearning4j.nn.conf.distribution.NormalDistribution;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.weights.IWeightInit;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.weights.WeightInitDistribution;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;

/**
 * What every routed Mixture-of-Experts config shares: the options of the routed-experts block that do not depend on
 * how experts are laid out (expert activation, shared expert, load balance, auxiliary-loss-free expert bias, capacity,
 * router initialisation), and the computation, which is the block {@link RoutedExperts} with the
 * {@link RoutedExperts.Settings} a subclass derives from its own fields.
 *
 * <p>JSON saved before the expert bias and the router initialisation existed loads with the bias off and the default
 * router initialisation; a saved model keeps its trained router, only a network initialised afresh from such a
 * configuration draws its router from N(0, 0.02) where it used to get the layer's weight init.
 */
public abstract class BaseRoutedLayer extends BaseMoeLayer {

    // Parameter keys and statistic names of the block, under the names the configs have always offered them
    // (MoeFeedForward.W_ROUTER, FineRMoeLayer.W_CONCAT, ...); defined in RoutedExperts and SharedExpert.
    public static final String W_ROUTER = RoutedExperts.W_ROUTER;
    public static final String W_EXPERT_UP = RoutedExperts.W_EXPERT_UP;
    public static final String W_EXPERT_GATE = RoutedExperts.W_EXPERT_GATE;
    public static final String W_EXPERT_DOWN = RoutedExperts.W_EXPERT_DOWN;
    public static final String W_CONCAT = RoutedExperts.W_CONCAT;
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
    /** State parameter: the expert bias of auxiliary-loss-free balancing, {@code [1, E]}, when enabled. */
    public static final String EXPERT_BIAS = RoutedExperts.EXPERT_BIAS;

    public static final FfnActivation DEFAULT_ACTIVATION = FfnActivation.SWIGLU;

    private FfnActivation activation = DEFAULT_ACTIVATION;
    private long sharedHidden;
    private boolean sharedGate;
    private double loadBalanceCoefficient;
    private double capacityFactor = TokenDispatch.DROPLESS;
    private boolean expertBias;
    private double biasUpdateRate = ExpertBias.DEFAULT_UPDATE_RATE;
    private IWeightInit routerWeightInit = defaultRouterWeightInit();

    protected BaseRoutedLayer(Builder<?> b) {
        super(b);
        this.activation = b.activation;
        this.sharedHidden = b.sharedHidden;
        this.sharedGate = b.sharedGate;
        this.loadBalanceCoefficient = b.loadBalanceCoefficient;
        this.capacityFactor = b.capacityFactor;
        this.expertBias = b.expertBias;
        this.biasUpdateRate = b.biasUpdateRate;
        this.routerWeightInit = b.routerWeightInit;
    }

    /** For Jackson. */
    protected BaseRoutedLayer() {
    }

    /** The routed-experts block this config describes. */
    protected abstract RoutedExperts.Settings settings();

    /** The values of the subclass's own configuration fields, which {@link #equals} and {@link #hashCode} compare. */
    protected abstract List<Object> ownFields();

    /** Checks the shared options; subclasses call it from {@link #validate()}. */
    protected void validateRouting() {
        require(activation != null, "activation", null, "must be set", "use FfnActivation.SWIGLU");
        require(loadBalanceCoefficient >= 0, "loadBalanceCoefficient", loadBalanceCoefficient, "must be >= 0",
                "use 0 to switch the load-balance loss off");
        require(capacityFactor == TokenDispatch.DROPLESS || capacityFactor > 0, "capacityFactor", capacityFactor,
                "must be > 0, or 0 for dropless", "try 1.25, or 0 to never drop tokens");
        require(biasUpdateRate >= 0 && Double.isFinite(biasUpdateRate), "biasUpdateRate", biasUpdateRate,
                "must be finite and >= 0", "DeepSeek-V3 and Megatron use " + ExpertBias.DEFAULT_UPDATE_RATE
                        + "; 0 keeps the bias fixed");
        require(expertBias || biasUpdateRate == ExpertBias.DEFAULT_UPDATE_RATE, "biasUpdateRate", biasUpdateRate,
                "has no effect without the expert bias", "add expertBias(true), or leave biasUpdateRate unset");
        require(routerWeightInit != null, "routerWeightInit", null, "must be set",
                "leave it unset for N(0, " + RoutedExperts.DEFAULT_ROUTER_STD + "), or pass e.g. WeightInit.XAVIER");
    }

    /**
     * The default router initialisation, N(0, {@value RoutedExperts#DEFAULT_ROUTER_STD}^2)
     * ({@link RoutedExperts#DEFAULT_ROUTER_STD}).
     */
    public static IWeightInit defaultRouterWeightInit() {
        return new WeightInitDistribution(new NormalDistribution(0, RoutedExperts.DEFAULT_ROUTER_STD));
    }

    /** The expert bias, when enabled. */
    @Override
    public Set<String> stateParamKeys() {
        return expertBias ? Set.of(EXPERT_BIAS) : Set.of();
    }

    /** The expert bias steps by {@code biasUpdateRate * sign(signal)} ({@link ExpertBiasStep}). */
    @Override
    public IUpdater stateUpdater(String key) {
        return EXPERT_BIAS.equals(key) ? new ExpertBiasStep(biasUpdateRate) : super.stateUpdater(key);
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        RoutedExperts.defineParameters(settings(), params);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        RoutedExperts.initializeParameters(params, weightInit, routerWeightInit);
    }

    @Override
    public SDVariable defineTokens(LayerGraph g) {
        return RoutedExperts.define(settings(), g);
    }

    @Override
    public HostFunction<?> eagerFunction() {
        return new RoutedExpertsFunction(settings());
    }

    public FfnActivation getActivation() {
        return activation;
    }

    public void setActivation(FfnActivation activation) {
        this.activation = activation;
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

    public double getCapacityFactor() {
        return capacityFactor;
    }

    public void setCapacityFactor(double capacityFactor) {
        this.capacityFactor = capacityFactor;
    }

    public boolean isExpertBias() {
        return expertBias;
    }

    public void setExpertBias(boolean expertBias) {
        this.expertBias = expertBias;
    }

    public double getBiasUpdateRate() {
        return biasUpdateRate;
    }

    public void setBiasUpdateRate(double biasUpdateRate) {
        this.biasUpdateRate = biasUpdateRate;
    }

    public IWeightInit getRouterWeightInit() {
        return routerWeightInit;
    }

    public void setRouterWeightInit(IWeightInit routerWeightInit) {
        this.routerWeightInit = routerWeightInit;
    }

    @Override
    public boolean equals(Object o) {
        if (!super.equals(o)) {
            return false;
        }
        BaseRoutedLayer that = (BaseRoutedLayer) o;
        return activation == that.activation && sharedHidden == that.sharedHidden && sharedGate == that.sharedGate
                && loadBalanceCoefficient == that.loadBalanceCoefficient && capacityFactor == that.capacityFactor
                && expertBias == that.expertBias && biasUpdateRate == that.biasUpdateRate
                && Objects.equals(routerWeightInit, that.routerWeightInit) && ownFields().equals(that.ownFields());
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), activation, sharedHidden, sharedGate, loadBalanceCoefficient,
                capacityFactor, expertBias, biasUpdateRate, routerWeightInit, ownFields());
    }

    /** Builder of the shared options. */
    @SuppressWarnings("unchecked") // the usual self type of a fluent builder hierarchy
    public abstract static class Builder<T extends Builder<T>> extends BaseMoeLayer.Builder<T> {
        private FfnActivation activation = DEFAULT_ACTIVATION;
        private long sharedHidden;
        private boolean sharedGate;
        private double loadBalanceCoefficient;
        private double capacityFactor = TokenDispatch.DROPLESS;
        private boolean expertBias;
        private double biasUpdateRate = ExpertBias.DEFAULT_UPDATE_RATE;
        private IWeightInit routerWeightInit = defaultRouterWeightInit();

        /** @param defaultLoadBalance the layer kind's default load-balance coefficient */
        protected Builder(double defaultLoadBalance) {
            this.loadBalanceCoefficient = defaultLoadBalance;
        }

        /** Expert activation; default SwiGLU. */
        public T activation(FfnActivation activation) {
            this.activation = activation;
            return (T) this;
        }

        /** Hidden width of the shared expert; what unset (0) means is the layer kind's. */
        public T sharedHidden(long sharedHidden) {
            this.sharedHidden = sharedHidden;
            return (T) this;
        }

        /** Scale the shared expert's output by {@code sigmoid(x w)} per token, as Qwen2-MoE; default false. */
        public T sharedGate(boolean sharedGate) {
            this.sharedGate = sharedGate;
            return (T) this;
        }

        /** Load-balance loss coefficient alpha; 0 switches the loss off. */
        public T loadBalanceCoefficient(double loadBalanceCoefficient) {
            this.loadBalanceCoefficient = loadBalanceCoefficient;
            return (T) this;
        }

        /** Slots per expert relative to the mean load; default 0, dropless. */
        public T capacityFactor(double capacityFactor) {
            this.capacityFactor = capacityFactor;
            return (T) this;
        }

        /**
         * Auxiliary-loss-free balancing ({@link ExpertBias}, DeepSeek-V3): experts are selected with a per-expert
         * bias, never used in the gates, stepped by {@link #biasUpdateRate} towards the mean load after every training
         * step; the bias is state, saved with the model. Default false. For the loss-free recipe also set
         * {@code loadBalanceCoefficient(0)}.
         */
        public T expertBias(boolean expertBias) {
            this.expertBias = expertBias;
            return (T) this;
        }

        /** Step of the expert bias per training step; default 1e-3 (DeepSeek-V3, Megatron); 0 keeps it fixed. */
        public T biasUpdateRate(double biasUpdateRate) {
            this.biasUpdateRate = biasUpdateRate;
            return (T) this;
        }

        /**
         * Initialisation of the router weights, independent of the layer's weight init; default N(0, 0.02^2)
         * ({@link RoutedExperts#DEFAULT_ROUTER_STD}).
         */
        public T routerWeightInit(IWeightInit routerWeightInit) {
            this.routerWeightInit = routerWeightInit;
            return (T) this;
        }

        /** {@link #routerWeightInit(IWeightInit)} from one of DL4J's named schemes (XAVIER was the old default). */
        public T routerWeightInit(WeightInit routerWeightInit) {
            return routerWeightInit(routerWeightInit == null ? null : routerWeightInit.getWeightInitFunction());
        }

        /** What the builder holds for the shared expert's width (0: unset). */
        protected long sharedHidden() {
            return sharedHidden;
        }
    }
}
