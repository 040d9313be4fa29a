package io.github.dl4jmoe.experts;

import java.lang.ref.Reference;
import java.util.Arrays;
import java.util.stream.IntStream;

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
 * <p>One pass: the gradient contributions are grouped by table row (one sort), each group is summed and applied to
 * its row at once, in two threads over disjoint rows. Moments are kept here, outside the network's parameter vector, so they
 * are not saved with the model (training resumed from a checkpoint restarts their moving averages).
 */
public final class SparseRowUpdater {

    private INDArray firstMoment;
    private INDArray secondMoment;

    /**
     * @param table     {@code [N, width]}, updated in place
     * @param grads     gradient contributions and their rows, duplicates allowed: sums over the minibatch (DL4J's
     *                  convention)
     * @param updater   the configured updater: {@link Adam}, {@link Sgd} or {@link NoOp}
     * @param iteration completed iterations (Adam's bias correction uses iteration + 1)
     */
    public void apply(INDArray table, RowGradients grads, IUpdater updater, int iteration, int epoch,
                      long minibatch) {
        if (updater instanceof NoOp) {
            return;
        }
        if (!(updater instanceof Sgd) && !(updater instanceof Adam)) {
            throw new IllegalArgumentException("Sparse row updates support Adam, Sgd and NoOp, not "
                    + updater.getClass().getSimpleName() + "; configure one of those or use dense table updates");
        }
        if (grads.width() != table.size(1)) {
            throw new IllegalArgumentException("SparseRowUpdater: gradient width " + grads.width() + " for a table "
                    + java.util.Arrays.toString(table.shape()));
        }
        if (updater instanceof Adam && firstMoment == null) {
            firstMoment = Nd4j.zeros(table.dataType(), table.shape());
            secondMoment = Nd4j.zeros(table.dataType(), table.shape());
        }
        int[] rows = grads.rows();
        long[] order = new long[rows.length];                 // (row, position) pairs sorted: grouped by table row
        for (int i = 0; i < rows.length; i++) {
            order[i] = ((long) rows[i] << 32) | i;
        }
        Arrays.sort(order);
        int split = groupBoundaryNear(order, order.length / 2);
        Step step = new Step(updater, iteration, epoch, minibatch);
        IntStream.of(0, 1).parallel().forEach(part -> {
            int from = part == 0 ? 0 : split;
            int to = part == 0 ? split : order.length;
            int width = grads.width();
            RowBuffer params = new RowBuffer(table);
            RowBuffer m = firstMoment == null ? null : new RowBuffer(firstMoment);
            RowBuffer v = secondMoment == null ? null : new RowBuffer(secondMoment);
            double[] g = new double[width];
            double[] p = new double[width];
            double[] mr = new double[width];
            double[] vr = new double[width];
            for (int i = from; i < to; ) {
                int row = (int) (order[i] >>> 32);
                Arrays.fill(g, 0);
                for (; i < to && (int) (order[i] >>> 32) == row; i++) {
                    grads.addTo((int) order[i], g);
                }
                params.get(row, p);
                if (m == null) {
                    step.sgd(p, g);
                } else {
                    m.get(row, mr);
                    v.get(row, vr);
                    step.adam(p, g, mr, vr);
                    m.put(row, mr);
                    v.put(row, vr);
                }
                params.put(row, p);
            }
        });
        Reference.reachabilityFence(table);                   // the row pointers do not keep the arrays alive
        Reference.reachabilityFence(firstMoment);
        Reference.reachabilityFence(secondMoment);
    }

    /** The first position at or after {@code p} that starts a new row group, so the two halves share no row. */
    private static int groupBoundaryNear(long[] order, int p) {
        while (p > 0 && p < order.length && (order[p] >>> 32) == (order[p - 1] >>> 32)) {
            p++;
        }
        return p;
    }

    /** The update rules, with DL4J's gradient-over-minibatch convention and Adam's bias correction. */
    private static final class Step {
        private final double scale;
        private final double lr;
        private final double b1;
        private final double b2;
        private final double eps;
        private final double alpha;

        Step(IUpdater updater, int iteration, int epoch, long minibatch) {
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
