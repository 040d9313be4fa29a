package io.github.dl4jmoe.spark;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.DoubleAccumulator;
import org.apache.spark.util.LongAccumulator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * The mean training loss of every minibatch every worker fitted, summed through Spark accumulators: a
 * {@link TrainingHook} that runs on the workers after each step.
 *
 * <p>DL4J's score of a minibatch is its loss summed over time steps and averaged over examples (plus the layers'
 * auxiliary losses), so {@code score * examples} is the minibatch's total loss; dividing the sum of those by the
 * number of predicted units (unmasked label steps, or examples when there is no label mask) gives the loss per
 * character for a language model and per example for a classifier.
 */
public final class TrainingLoss implements TrainingHook {

    private static final long serialVersionUID = 1L;

    private final DoubleAccumulator loss;
    private final LongAccumulator units;

    private TrainingLoss(DoubleAccumulator loss, LongAccumulator units) {
        this.loss = loss;
        this.units = units;
    }

    /** A hook whose accumulators are registered with {@code sc}. */
    public static TrainingLoss register(JavaSparkContext sc) {
        return new TrainingLoss(sc.sc().doubleAccumulator("dl4j-moe training loss"),
                sc.sc().longAccumulator("dl4j-moe predicted units"));
    }

    /** Mean loss per predicted unit since the last reset, NaN if nothing was fitted. Read it on the driver. */
    public double mean() {
        return units.value() == 0 ? Double.NaN : loss.value() / units.value();
    }

    /** Predicted units (characters, or examples) since the last reset. */
    public long units() {
        return units.value();
    }

    public void reset() {
        loss.reset();
        units.reset();
    }

    @Override
    public void postUpdate(DataSet minibatch, Model model) {
        add(model.score(), minibatch.numExamples(), minibatch.getLabelsMaskArray());
    }

    @Override
    public void postUpdate(MultiDataSet minibatch, Model model) {
        INDArray mask = minibatch.getLabelsMaskArrays() == null ? null : minibatch.getLabelsMaskArray(0);
        add(model.score(), minibatch.getFeatures(0).size(0), mask);
    }

    private void add(double score, long examples, INDArray labelsMask) {
        loss.add(score * examples);
        units.add(labelsMask == null ? examples : Math.round(labelsMask.sumNumber().doubleValue()));
    }

    @Override
    public void preUpdate(DataSet minibatch, Model model) {
    }

    @Override
    public void preUpdate(MultiDataSet minibatch, Model model) {
    }
}
