package io.github.dl4jmoe.zoo.checkpoint;

import java.nio.file.Path;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.BooleanIndexing;
import org.nd4j.linalg.indexing.conditions.Conditions;

/**
 * Training stopped because the loss or the parameters stopped being finite numbers; nothing was saved after the
 * last good checkpoint, which the message names. Programs report it in one line and exit with 1.
 */
public final class TrainingDivergedException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int step;

    /**
     * @param where     e.g. "step 12" or "epoch 3"
     * @param what      e.g. "the training loss is NaN"
     * @param lastGood  the newest file saved before, or null if none was
     */
    public TrainingDivergedException(int step, String where, String what, Path lastGood) {
        this(step, where, what, lastGood == null ? null : lastGood.toString());
    }

    /**
     * @param lastGood the location of the newest file saved before (e.g. an {@code hdfs://} URI), or null if none was
     */
    public TrainingDivergedException(int step, String where, String what, String lastGood) {
        super("training diverged at " + where + ": " + what + "; stopped without saving. "
                + (lastGood == null ? "No checkpoint was saved before it"
                : "The last good checkpoint is " + lastGood + ", untouched")
                + " (try a lower --lr)");
        this.step = step;
    }

    /** The step (or epoch) at which training stopped. */
    public int step() {
        return step;
    }

    /** Throws if {@code loss} is NaN or infinite. */
    public static void checkLoss(double loss, int step, String where, Path lastGood) {
        checkLoss(loss, step, where, lastGood == null ? null : lastGood.toString());
    }

    /** The same, the last good file given by its location. */
    public static void checkLoss(double loss, int step, String where, String lastGood) {
        if (!Double.isFinite(loss)) {
            throw new TrainingDivergedException(step, where, "the training loss is " + loss, lastGood);
        }
    }

    /**
     * Throws if a parameter is NaN or infinite: the step that made it so may still have reported a finite loss, and
     * such a model must not replace a good checkpoint.
     */
    public static void checkParameters(INDArray params, int step, String where, Path lastGood) {
        checkParameters(params, step, where, lastGood == null ? null : lastGood.toString());
    }

    /** The same, the last good file given by its location. */
    public static void checkParameters(INDArray params, int step, String where, String lastGood) {
        if (BooleanIndexing.or(params, Conditions.isNan()) || BooleanIndexing.or(params, Conditions.isInfinite())) {
            throw new TrainingDivergedException(step, where, "the parameters are no longer finite", lastGood);
        }
    }
}
