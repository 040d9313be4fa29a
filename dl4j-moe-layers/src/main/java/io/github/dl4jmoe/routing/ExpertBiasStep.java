package io.github.dl4jmoe.routing;

import java.util.Collections;
import java.util.Map;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.nd4j.linalg.schedule.ISchedule;

/**
 * The updater of the expert bias ({@link ExpertBias}): turns the step signal written into the bias's gradient slot
 * into the update {@code rate * sign(signal)}, which DL4J's parameter step subtracts. Only the sign is read, so DL4J's
 * minibatch division and any gradient normalisation of the layer (all positive rescalings or clips) leave the step at
 * exactly {@code rate}. No state, no learning-rate schedule: DL4J's {@code setLearningRate} leaves it alone.
 */
public final class ExpertBiasStep implements IUpdater {

    private static final long serialVersionUID = 1L;

    private double rate;

    /** For Jackson. */
    public ExpertBiasStep() {
    }

    public ExpertBiasStep(double rate) {
        this.rate = rate;
    }

    public double getRate() {
        return rate;
    }

    public void setRate(double rate) {
        this.rate = rate;
    }

    @Override
    public long stateSize(long numParams) {
        return 0;
    }

    @Override
    public GradientUpdater<ExpertBiasStep> instantiate(INDArray viewArray, boolean initializeViewArray) {
        return new Step(this);
    }

    @Override
    public GradientUpdater<ExpertBiasStep> instantiate(Map<String, INDArray> updaterState,
                                                       boolean initializeStateArrays) {
        return new Step(this);
    }

    @Override
    public ExpertBiasStep clone() {
        return new ExpertBiasStep(rate);
    }

    @Override
    public double getLearningRate(int iteration, int epoch) {
        return rate;
    }

    @Override
    public boolean hasLearningRate() {
        return false;
    }

    @Override
    public void setLrAndSchedule(double lr, ISchedule lrSchedule) {
        throw new UnsupportedOperationException("ExpertBiasStep: the expert bias steps at its layer's biasUpdateRate ("
                + rate + "); it has no learning rate or schedule");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExpertBiasStep other && rate == other.rate;
    }

    @Override
    public int hashCode() {
        return Double.hashCode(rate);
    }

    @Override
    public String toString() {
        return "ExpertBiasStep(rate=" + rate + ")";
    }

    /** The stateless updater: {@code gradient <- rate * sign(gradient)}, in place. */
    private record Step(ExpertBiasStep config) implements GradientUpdater<ExpertBiasStep> {

        @Override
        public ExpertBiasStep getConfig() {
            return config;
        }

        @Override
        public void setState(Map<String, INDArray> stateMap, boolean initialize) {
        }

        @Override
        public Map<String, INDArray> getState() {
            return Collections.emptyMap();
        }

        @Override
        public void setStateViewArray(INDArray viewArray, long[] gradientShape, char gradientOrder,
                                      boolean initialize) {
        }

        @Override
        public void applyUpdater(INDArray gradient, int iteration, int epoch) {
            Transforms.sign(gradient, false).muli(config.rate);
        }
    }
}
