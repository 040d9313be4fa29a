package io.github.dl4jmoe.peer;

import java.util.Arrays;

import io.github.dl4jmoe.host.RowBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * Updates only the rows of a table that a step touched, as product-key memories are trained ("lazy" sparse Adam:
 * moments of untouched rows are neither read nor decayed). With SGD, or with Adam on a row's first update, the
 * result equals the dense updater's; afterwards lazy Adam differs from dense Adam only for rows a step did not touch.
 *
 * <p>Use: {@link #step} once per training step, then {@link Step#open()} in each thread and
 * {@link RowUpdate#apply} for each touched row, once per row, with the row's gradient summed over the minibatch.
 * Moments are kept here, outside the network's parameter vector and DL4J's updater state, so {@code ModelSerializer}
 * does not save them; {@link #moments()} and {@link #restoreMoments} let a checkpoint store them beside the model
 * (the zoo's {@code CharLanguageModel} does) so that resumed training continues their moving averages.
 */
public final class SparseRowUpdater {

    private INDArray firstMoment;
    private INDArray secondMoment;

    /**
     * Prepares one step's row updates of {@code table}.
     *
     * @param table     {@code [N, width]}, FLOAT or DOUBLE, row-major; updated in place
     * @param updater   the configured updater: {@link Adam}, {@link Sgd} or {@link NoOp}
     * @param iteration completed iterations (Adam's bias correction uses iteration + 1)
     * @param minibatch DL4J's minibatch size: gradients are sums over it
     */
    public Step step(INDArray table, IUpdater updater, int iteration, int epoch, long minibatch) {
        if (!(updater instanceof Sgd) && !(updater instanceof Adam) && !(updater instanceof NoOp)) {
            throw new IllegalArgumentException("Sparse row updates support Adam, Sgd and NoOp, not "
                    + updater.getClass().getSimpleName() + "; configure one of those or use dense table updates");
        }
        if (firstMoment != null && !Arrays.equals(firstMoment.shape(), table.shape())) {
            throw new IllegalArgumentException("SparseRowUpdater: restored moments of shape "
                    + Arrays.toString(firstMoment.shape()) + " for a table of shape " + Arrays.toString(table.shape())
                    + " (the checkpoint belongs to another model)");
        }
        if (updater instanceof Adam && firstMoment == null) {
            firstMoment = Nd4j.zeros(table.dataType(), table.shape());
            secondMoment = Nd4j.zeros(table.dataType(), table.shape());
        }
        boolean adam = updater instanceof Adam;
        return new Step(table, updater instanceof NoOp ? null : new Rule(updater, iteration, epoch, minibatch),
                adam ? firstMoment : null, adam ? secondMoment : null);
    }

    /**
     * Adam's first and second moments, each {@code [N, width]} like the table, or none before the first Adam step
     * (and never with SGD). Live arrays, not copies.
     */
    public INDArray[] moments() {
        return firstMoment == null ? new INDArray[0] : new INDArray[] {firstMoment, secondMoment};
    }

    /**
     * Continues from saved moments (from {@link #moments()}) instead of zeros.
     *
     * @param first  {@code [N, width]}
     * @param second {@code [N, width]}, the same shape
     */
    public void restoreMoments(INDArray first, INDArray second) {
        if (!Arrays.equals(first.shape(), second.shape())) {
            throw new IllegalArgumentException("SparseRowUpdater: first and second moments differ in shape, "
                    + Arrays.toString(first.shape()) + " and " + Arrays.toString(second.shape()));
        }
        firstMoment = first;
        secondMoment = second;
    }

    /** One training step's updates of one table. Keep it reachable while its row updates are in use. */
    public static final class Step {
        private final INDArray table;
        private final Rule rule;
        private final INDArray firstMoment;
        private final INDArray secondMoment;

        private Step(INDArray table, Rule rule, INDArray firstMoment, INDArray secondMoment) {
            this.table = table;
            this.rule = rule;
            this.firstMoment = firstMoment;
            this.secondMoment = secondMoment;
        }

        /** Row updates for one thread (it owns row buffers); threads must update disjoint rows. */
        public RowUpdate open() {
            return new RowUpdate(this);
        }
    }

    /** Applies one step's rule to single rows; not thread safe. */
    public static final class RowUpdate {
        private final Rule rule;
        private final RowBuffer params;
        private final RowBuffer m;
        private final RowBuffer v;
        private final double[] p;
        private final double[] mr;
        private final double[] vr;

        private RowUpdate(Step step) {
            this.rule = step.rule;
            int width = (int) step.table.size(1);
            this.params = step.rule == null ? null : RowBuffer.of(step.table);
            this.m = step.firstMoment == null ? null : RowBuffer.of(step.firstMoment);
            this.v = step.secondMoment == null ? null : RowBuffer.of(step.secondMoment);
            this.p = new double[width];
            this.mr = new double[width];
            this.vr = new double[width];
        }

        /** Updates row {@code row} from its gradient summed over the minibatch (DL4J's convention). */
        public void apply(int row, double[] gradientSum) {
            if (gradientSum.length != p.length) {
                throw new IllegalArgumentException("SparseRowUpdater: gradient of width " + gradientSum.length
                        + " for rows of width " + p.length);
            }
            if (rule == null) {
                return;
            }
            params.get(row, p);
            if (m == null) {
                rule.sgd(p, gradientSum);
            } else {
                m.get(row, mr);
                v.get(row, vr);
                rule.adam(p, gradientSum, mr, vr);
                m.put(row, mr);
                v.put(row, vr);
            }
            params.put(row, p);
        }
    }

    /** The update rules, with DL4J's gradient-over-minibatch convention and Adam's bias correction. */
    private static final class Rule {
        private final double scale;
        private final double lr;
        private final double b1;
        private final double b2;
        private final double eps;
        private final double alpha;

        Rule(IUpdater updater, int iteration, int epoch, long minibatch) {
            this.scale = 1.0 / minibatch;
            if (updater instanceof Adam adam) {
                int t = iteration + 1;
                b1 = adam.getBeta1();
                b2 = adam.getBeta2();
                eps = adam.getEpsilon();
                lr = adam.getLearningRate(iteration, epoch);
                alpha = lr * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t));
            } else {
                lr = ((Sgd) updater).getLearningRate(iteration, epoch);
                b1 = b2 = eps = alpha = 0;
            }
        }

        void sgd(double[] p, double[] gradSum) {
            for (int j = 0; j < p.length; j++) {
                p[j] -= lr * gradSum[j] * scale;
            }
        }

        void adam(double[] p, double[] gradSum, double[] m, double[] v) {
            for (int j = 0; j < p.length; j++) {
                double g = gradSum[j] * scale;
                m[j] = b1 * m[j] + (1 - b1) * g;
                v[j] = b2 * v[j] + (1 - b2) * g * g;
                p[j] -= alpha * m[j] / (Math.sqrt(v[j]) + eps);
            }
        }
    }
}
