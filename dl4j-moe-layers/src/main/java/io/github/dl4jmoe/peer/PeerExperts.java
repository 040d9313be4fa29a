package io.github.dl4jmoe.peer;

import java.lang.ref.Reference;
import java.util.Arrays;
import java.util.function.Consumer;

import io.github.dl4jmoe.host.RowBuffer;
import io.github.dl4jmoe.host.RowMath;
import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * PEER's expert computation in Java, reading only the retrieved rows of the tables (He 2024, eq. 4 with
 * single-neuron experts):
 * <pre>
 *   pre_p = u_{e_p} . x_t,   a_p = act(pre_p)             for the slots p = t*S .. t*S + S - 1 of token t (S = h*k)
 *   f(x_t) = sum_p g_p a_p v_{e_p}                                                            [n, nOut]
 * </pre>
 * As a SameDiff graph this needs the gathered rows {@code [n, S, d]} of both tables in the forward pass, again in
 * SameDiff's recomputed forward inside backprop, and as gradients: 268 MB per table at n = 1024, S = 128, d = 256
 * in float. Here the slots are grouped by expert ({@link ExpertGroups}): each pass reads each retrieved expert's rows
 * once, in ascending row order, in one of two threads, and the table gradients are summed per expert and handed over
 * ({@link RowSink}) without a gradient matrix.
 *
 * <p>The tables are {@code [N, d]} (down, u) and {@code [N, nOut]} (up, v), FLOAT or DOUBLE; everything else is
 * passed as row-major double arrays. This is the path for large tables; for tables small relative to the slots per
 * token, {@link DenseExperts} computes the same with matrix products over all experts ({@link PeerPath} chooses).
 */
public final class PeerExperts implements ExpertComputation {

    private final INDArray down;
    private final INDArray up;
    private final int[] experts;
    private final int slots;
    private final HiddenActivation activation;
    private final int tokens;
    private final int nIn;
    private final int nOut;

    /**
     * @param experts expert id of each slot, {@code [n * slots]} (token-major)
     * @param slots   experts per token, h*k
     */
    public PeerExperts(INDArray down, INDArray up, int[] experts, int slots, HiddenActivation activation) {
        this.down = down;
        this.up = up;
        this.experts = experts;
        this.slots = slots;
        this.activation = activation;
        this.tokens = ExpertComputation.tokens("PeerExperts", experts, slots, activation);
        this.nIn = (int) down.size(1);
        this.nOut = (int) up.size(1);
    }

    /**
     * One forward pass.
     *
     * @param output      {@code [n, nOut]}
     * @param activations {@code a_p = act(pre_p)} per slot
     * @param slopes      {@code act'(pre_p)} per slot, for the backward pass
     * @param byExpert    the slots grouped by expert, for the backward pass
     */
    public record Forward(double[] output, double[] activations, double[] slopes, ExpertGroups byExpert) {
    }

    /** The gradients of one backward pass; the tables' went to the {@link RowSink}. */
    public record Gradients(double[] gates, double[] input) {
    }

    /**
     * Where {@link #backward} delivers each retrieved expert's row gradients, summed over the expert's slots:
     * {@code dL/du_e = sum_p dL/dpre_p x_t} and {@code dL/dv_e = sum_p g_p a_p epsilon_t}, once per expert and pass.
     */
    public interface RowSink {
        /** The consumer of one thread's experts (each expert belongs to exactly one thread). */
        RowConsumer open();
    }

    @FunctionalInterface
    public interface RowConsumer {
        /**
         * Called after the backward pass has read the expert's rows, which no other thread reads: the consumer may
         * update them in place (sparse updates).
         */
        void accept(int expert, double[] downGradient, double[] upGradient);
    }

    /**
     * @param x     tokens {@code [n, nIn]}
     * @param gates {@code [n * slots]}
     */
    @Override
    public Forward forward(double[] x, double[] gates) {
        checkLengths(x, gates);
        ExpertGroups groups = ExpertGroups.of(experts);
        double[] pre = new double[experts.length];
        groups.inParallel(0, (from, to, unused) -> {
            RowBuffer downRows = RowBuffer.of(down);
            double[] u = new double[nIn];
            for (int g = from; g < to; g++) {
                downRows.get(groups.expert(g), u);
                for (int i = groups.start(g); i < groups.start(g + 1); i++) {
                    int p = groups.slot(i);
                    pre[p] = RowMath.dot(x, p / slots * nIn, u);
                }
            }
        });
        double[][] actAndSlope = SlotActivation.of(pre, activation, down.dataType());
        double[] act = actAndSlope[0];
        double[] output = groups.inParallel(tokens * nOut, (from, to, out) -> {
            RowBuffer upRows = RowBuffer.of(up);
            double[] v = new double[nOut];
            double[] scratch = new double[nOut];
            for (int g = from; g < to; g++) {
                upRows.get(groups.expert(g), v);
                for (int i = groups.start(g); i < groups.start(g + 1); i++) {
                    int p = groups.slot(i);
                    RowMath.axpyThrough(gates[p] * act[p], v, out, p / slots * nOut, scratch);
                }
            }
        });
        Reference.reachabilityFence(down);
        Reference.reachabilityFence(up);
        return new Forward(output, act, actAndSlope[1], groups);
    }

    /**
     * Backward pass of {@link #forward} for {@code epsilon = dL/df}, {@code [n, nOut]}:
     * {@code dL/dg_p = a_p (eps_t . v_p)}, {@code dL/dpre_p = g_p act'(pre_p) (eps_t . v_p)},
     * {@code dL/dx_t = sum_p dL/dpre_p u_p}, {@code dL/du_e = sum_{p of e} dL/dpre_p x_t} and
     * {@code dL/dv_e = sum_{p of e} g_p a_p eps_t}. Each retrieved expert is visited once: its two rows are read,
     * its slots' gradients computed, and its row gradients handed to {@code tables}, which may update the rows at
     * once (one pass over the retrieved rows instead of one to differentiate and one to update).
     *
     * @param forward the forward pass of the same {@code x}, gates and tables
     */
    public Gradients backward(double[] x, double[] gates, Forward forward, double[] epsilon, RowSink tables) {
        checkLengths(x, gates);
        double[] act = forward.activations();
        double[] slope = forward.slopes();
        ExpertGroups groups = forward.byExpert();
        double[] gateGrads = new double[experts.length];
        double[] inputGrads = groups.inParallel(tokens * nIn, (from, to, dx) -> {
            RowBuffer downRows = RowBuffer.of(down);
            RowBuffer upRows = RowBuffer.of(up);
            RowConsumer consumer = tables.open();
            double[] u = new double[nIn];
            double[] v = new double[nOut];
            double[] downGrad = new double[nIn];
            double[] upGrad = new double[nOut];
            double[] xRow = new double[nIn];
            double[] epsilonRow = new double[nOut];
            double[] scratch = new double[nIn];
            for (int g = from; g < to; g++) {
                int expert = groups.expert(g);
                downRows.get(expert, u);
                upRows.get(expert, v);
                Arrays.fill(downGrad, 0);
                Arrays.fill(upGrad, 0);
                for (int i = groups.start(g); i < groups.start(g + 1); i++) {
                    int p = groups.slot(i);
                    int t = p / slots;
                    System.arraycopy(x, t * nIn, xRow, 0, nIn);             // rows at offset 0: see RowMath
                    System.arraycopy(epsilon, t * nOut, epsilonRow, 0, nOut);
                    double ev = RowMath.dot(epsilonRow, 0, v);
                    gateGrads[p] = act[p] * ev;
                    double preGrad = gates[p] * slope[p] * ev;
                    RowMath.axpyThrough(preGrad, u, dx, t * nIn, scratch);
                    RowMath.axpy(preGrad, xRow, downGrad, 0);
                    RowMath.axpy(gates[p] * act[p], epsilonRow, upGrad, 0);
                }
                consumer.accept(expert, downGrad, upGrad);
            }
        });
        Reference.reachabilityFence(down);
        Reference.reachabilityFence(up);
        return new Gradients(gateGrads, inputGrads);
    }

    /** {@inheritDoc} Here {@code gateGradients} runs at the end, in the calling thread. */
    @Override
    public Gradients backward(double[] x, double[] gates, Forward forward, double[] epsilon, RowSink tables,
                              Consumer<double[]> gateGradients) {
        Gradients grads = backward(x, gates, forward, epsilon, tables);
        gateGradients.accept(grads.gates());
        return grads;
    }

    private void checkLengths(double[] x, double[] gates) {
        ExpertComputation.checkLengths("PeerExperts", x, gates, tokens, nIn, experts.length);
    }
}
