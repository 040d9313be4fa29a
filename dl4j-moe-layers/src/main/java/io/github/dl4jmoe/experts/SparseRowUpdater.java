package io.github.dl4jmoe.experts;

import java.util.Arrays;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Updates only the rows of a table that a step touched, as product-key memories are trained ("lazy" sparse Adam:
 * moments of untouched rows are neither read nor decayed). With SGD, or with Adam on a row's first update, the
 * result equals the dense updater's; afterwards lazy Adam differs from dense Adam only for rows a step did not touch.
 *
 * <p>Moments are kept here, outside the network's parameter vector, so they are not saved with the model (training
 * resumed from a checkpoint restarts their moving averages).
 */
public final class SparseRowUpdater {

    private INDArray firstMoment;
    private INDArray secondMoment;

    /**
     * @param table     {@code [N, width]}, updated in place
     * @param rows      the row of each gradient row, duplicates allowed
     * @param rowGrads  {@code [rows.length, width]}: gradient sums over the minibatch (DL4J's convention)
     * @param updater   the configured updater: {@link Adam}, {@link Sgd} or {@link NoOp}
     * @param iteration completed iterations (Adam's bias correction uses iteration + 1)
     */
    public void apply(INDArray table, int[] rows, INDArray rowGrads, IUpdater updater, int iteration, int epoch,
                      long minibatch) {
        if (updater instanceof NoOp) {
            return;
        }
        Unique unique = Unique.of(rows);
        INDArray index = Nd4j.createFromArray(unique.rows);
        INDArray grads = RowSums.sum(rowGrads, unique.segmentOfEach, unique.rows.length).divi(minibatch);  // [U, width]
        INDArray current = Nd4j.pullRows(table, 1, unique.rows);
        INDArray updated;
        if (updater instanceof Sgd sgd) {
            updated = current.subi(grads.muli(sgd.getLearningRate(iteration, epoch)));
        } else if (updater instanceof Adam adam) {
            if (firstMoment == null) {
                firstMoment = Nd4j.zeros(table.dataType(), table.shape());
                secondMoment = Nd4j.zeros(table.dataType(), table.shape());
            }
            double b1 = adam.getBeta1();
            double b2 = adam.getBeta2();
            int t = iteration + 1;
            INDArray m = Nd4j.pullRows(firstMoment, 1, unique.rows).muli(b1).addi(grads.mul(1 - b1));
            INDArray v = Nd4j.pullRows(secondMoment, 1, unique.rows).muli(b2).addi(grads.muli(grads).muli(1 - b2));
            double alpha = adam.getLearningRate(iteration, epoch) * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t));
            updated = current.subi(m.mul(alpha).divi(Transforms.sqrt(v, true).addi(adam.getEpsilon())));
            scatter(firstMoment, index, m);
            scatter(secondMoment, index, v);
        } else {
            throw new IllegalArgumentException("Sparse row updates support Adam, Sgd and NoOp, not "
                    + updater.getClass().getSimpleName() + "; configure one of those or use dense table updates");
        }
        scatter(table, index, updated);
    }

    /** {@code target[index[i]] = rows[i]}; index holds no duplicates, so the parallel kernel has no races. */
    private static void scatter(INDArray target, INDArray index, INDArray rows) {
        Nd4j.exec(DynamicCustomOp.builder("scatter_upd").addInputs(target, index, rows).addOutputs(target)
                .callInplace(true).build());
    }

    /** Distinct rows (ascending) and, for each original entry, the position of its row among them. */
    private record Unique(int[] rows, int[] segmentOfEach) {
        static Unique of(int[] rows) {
            int[] sorted = rows.clone();
            Arrays.sort(sorted);
            int distinct = 0;
            for (int i = 0; i < sorted.length; i++) {
                if (i == 0 || sorted[i] != sorted[i - 1]) {
                    sorted[distinct++] = sorted[i];
                }
            }
            int[] unique = Arrays.copyOf(sorted, distinct);
            int[] segment = new int[rows.length];
            for (int i = 0; i < rows.length; i++) {
                segment[i] = Arrays.binarySearch(unique, rows[i]);
            }
            return new Unique(unique, segment);
        }
    }
}
