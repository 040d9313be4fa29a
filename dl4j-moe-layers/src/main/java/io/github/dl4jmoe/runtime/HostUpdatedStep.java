package io.github.dl4jmoe.runtime;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.StepFunction;
import org.deeplearning4j.optimize.solvers.accumulation.GradientsAccumulator;
import org.deeplearning4j.optimize.solvers.accumulation.IndexedTail;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Applies DL4J's parameter step ({@code params -= update}) to every parameter except those a layer updates itself
 * ({@link BaseMoeLayer#hostUpdatedParamKeys()}, e.g. PEER's expert tables under sparse updates).
 *
 * <p>Why: DL4J subtracts the whole flattened update vector from the whole parameter vector after every step. For
 * host-updated tables that update is zero (NoOp updater), but at a million experts the tables are 2 GiB and the
 * subtraction alone costs as much as a quarter of the step. Skipping it changes no value: a test trains two networks,
 * with and without this step, and compares every parameter.
 *
 * <p>It hooks in through DL4J's public {@code setGradientsAccumulator}, the one place where the optimizer hands the
 * step to user code; the accumulator stores nothing and shares nothing between models. Install it with
 * {@link #install}; a network without it trains identically, only slower. Do not install it on a network trained by
 * {@code ParallelWrapper} in shared-gradients mode, which brings its own accumulator.
 */
public final class HostUpdatedStep implements GradientsAccumulator {

    private static final long serialVersionUID = 1L;

    /** Half-open intervals {@code [from, to)} of the flattened parameter vector that DL4J should step. */
    private final long[][] steppedRanges;

    private HostUpdatedStep(long[][] steppedRanges) {
        this.steppedRanges = steppedRanges;
    }

    /**
     * Installs the step on {@code model} if it has host-updated parameters.
     *
     * @return true if installed, false if the model has none (its standard step is already exact and cheap)
     */
    public static boolean install(Model model) {
        long[][] skipped = hostUpdatedRanges(model);
        if (skipped.length == 0) {
            return false;
        }
        HostUpdatedStep step = new HostUpdatedStep(complement(skipped, model.params().length()));
        if (model instanceof MultiLayerNetwork net) {
            net.setGradientsAccumulator(step);
        } else if (model instanceof ComputationGraph graph) {
            graph.setGradientsAccumulator(step);
        } else {
            throw new IllegalArgumentException("HostUpdatedStep: expected a MultiLayerNetwork or ComputationGraph, got "
                    + model.getClass().getName());
        }
        return true;
    }

    /** The flattened-vector intervals of every host-updated parameter, sorted. */
    static long[][] hostUpdatedRanges(Model model) {
        INDArray flat = model.params();
        List<long[]> ranges = new ArrayList<>();
        for (Layer layer : ModelLayers.of(model)) {
            if (!(layer.conf().getLayer() instanceof BaseMoeLayer config)) {
                continue;
            }
            for (String key : config.hostUpdatedParamKeys()) {
                INDArray view = layer.getParam(key);
                long from = (start(view) - start(flat)) / flat.data().getElementSize();
                if (view.dataType() != flat.dataType() || from < 0 || from + view.length() > flat.length()) {
                    throw new IllegalStateException("HostUpdatedStep: parameter " + key + " of layer "
                            + config.getLayerName() + " is not a view of the network's parameter vector");
                }
                ranges.add(new long[] {from, from + view.length()});
            }
        }
        ranges.sort(Comparator.comparingLong(r -> r[0]));
        return ranges.toArray(new long[0][]);
    }

    /** Native address of an array's first element (a view's buffer may itself start inside its parent's). */
    private static long start(INDArray a) {
        return a.data().address() + a.offset() * a.data().getElementSize();
    }

    /** The intervals of {@code [0, length)} not covered by the sorted, disjoint {@code skipped}. */
    static long[][] complement(long[][] skipped, long length) {
        List<long[]> kept = new ArrayList<>();
        long start = 0;
        for (long[] r : skipped) {
            if (r[0] > start) {
                kept.add(new long[] {start, r[0]});
            }
            start = r[1];
        }
        if (start < length) {
            kept.add(new long[] {start, length});
        }
        return kept.toArray(new long[0][]);
    }

    @Override
    public void applyUpdate(StepFunction function, INDArray params, INDArray updates, boolean isFinalStep) {
        for (long[] r : steppedRanges) {
            function.step(slice(params, r), slice(updates, r));
        }
    }

    @Override
    public void applyUpdate(StepFunction function, INDArray params, INDArray updates, double alpha) {
        for (long[] r : steppedRanges) {
            function.step(slice(params, r), slice(updates, r), alpha);
        }
    }

    private static INDArray slice(INDArray vector, long[] range) {
        return vector.reshape(vector.length()).get(NDArrayIndex.interval(range[0], range[1]));
    }

    /** Nothing to store: the update is applied where it was computed. */
    @Override
    public void storeUpdate(INDArray array, int iterationNumber, int epochNumber) {
    }

    @Override
    public boolean hasAnything() {
        return false;
    }

    @Override
    public void receiveUpdate(INDArray array) {
        throw new UnsupportedOperationException("HostUpdatedStep shares no updates between models");
    }

    @Override
    public void setExternalSource(IndexedTail source) {
        throw new UnsupportedOperationException("HostUpdatedStep shares no updates between models");
    }

    @Override
    public IndexedTail getExternalSource() {
        return null;
    }

    @Override
    public void markExternalUpdates(boolean updatesAvailable) {
    }

    @Override
    public void reset() {
    }

    @Override
    public void touch() {
    }
}
