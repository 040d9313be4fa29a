package io.github.dl4jmoe.runtime;

import java.util.Map;
import java.util.Objects;
import java.util.Set;

import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.weights.WeightInitUtil;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Test layer exercising every runtime mechanism: {@code y = tanh((x - m) W)} where m is the batch mean while training
 * and a running mean (state) at inference; auxiliary loss {@code mean(y^2)}; statistic "batchMean".
 */
public class ProbeLayer extends BaseMoeLayer {

    static final String W = "W";
    static final String RUNNING_MEAN = "runningMean";
    static final String AUX = "outputSquare";
    static final String STAT = "batchMean";

    private double auxCoefficient;
    private double decay;

    ProbeLayer(Builder b) {
        super(b);
        this.auxCoefficient = b.auxCoefficient;
        this.decay = b.decay;
        validate();
    }

    protected ProbeLayer() {
    }

    @Override
    public void validate() {
        validateWidths();
        require(decay >= 0 && decay < 1, "decay", decay, "must be in [0, 1)", "try 0.9");
    }

    @Override
    public Set<String> stateParamKeys() {
        return Set.of(RUNNING_MEAN);
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addWeightParam(W, nIn, nOut);
        params.addBiasParam(RUNNING_MEAN, 1, nIn);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        WeightInitUtil.initWeights(nIn, nOut, params.get(W).shape(), weightInit, null, 'c', params.get(W));
        params.get(RUNNING_MEAN).assign(0);
    }

    @Override
    public SDVariable defineTokens(LayerGraph g) {
        SDVariable x = g.input();
        SDVariable batchMean = x.mean(true, 0);                                   // [1, nIn]
        SDVariable running = g.state(RUNNING_MEAN);
        SDVariable mean = io.github.dl4jmoe.ops.SdOps.select(g.training(), batchMean, running);
        SDVariable y = g.sd().math.tanh(x.sub(mean).mmul(g.param(W)));
        g.addAuxLoss(AUX, y.mul(y).mean(), auxCoefficient);
        g.updateState(RUNNING_MEAN, running.mul(decay).add(batchMean.mul(1 - decay)));
        g.addStatistic(STAT, batchMean);
        return y;
    }

    double getAuxCoefficient() {
        return auxCoefficient;
    }

    double getDecay() {
        return decay;
    }

    @Override
    public boolean equals(Object o) {
        return super.equals(o) && auxCoefficient == ((ProbeLayer) o).auxCoefficient && decay == ((ProbeLayer) o).decay;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), auxCoefficient, decay);
    }

    @SuppressWarnings("unchecked") // DL4J declares Layer.Builder#build() as <E extends Layer> E build()
    static class Builder extends BaseMoeLayer.Builder<Builder> {
        private double auxCoefficient;
        private double decay = 0.9;

        Builder auxCoefficient(double c) {
            this.auxCoefficient = c;
            return this;
        }

        Builder decay(double d) {
            this.decay = d;
            return this;
        }

        @Override
        public ProbeLayer build() {
            return new ProbeLayer(this);
        }
    }
}
