package io.github.dl4jmoe.peer;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.function.Consumer;
import java.util.stream.IntStream;

import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.RowBlocks;
import io.github.dl4jmoe.host.RowBuffer;
import io.github.dl4jmoe.host.ScratchArrays;
import io.github.dl4jmoe.host.ThreadedGemm;
import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * PEER's experts computed for all N experts with matrix products, for tables that are small relative to the slots per
 * token ({@link PeerPath}); same results as {@link PeerExperts}. Every head of token t sees the same x_t, so with
 * {@code C[t, e]} the sum of the gates of token t's slots that retrieved expert e (zero for the others):
 * <pre>
 *   Pre  = X U^T                        [n, N]      pre_p = Pre[t, e_p],  a_p = act(pre_p)
 *   A    = C o act(Pre)                 [n, N]      only the retrieved entries are activated
 *   f(X) = A V                          [n, nOut]
 * backward, from eps = dL/df:
 *   D    = eps V^T                      [n, N]      dL/dg_p = a_p D[t, e_p]
 *   dPre = C o act'(Pre) o D            [n, N]
 *   dL/dX = dPre U,   dL/dU = dPre^T X,   dL/dV = A^T eps
 * </pre>
 * That is N / slots times the arithmetic of the loops over the retrieved rows, at BLAS speed. The products run in the
 * tables' data type on blocks of tokens, small enough for a block's {@code [rows, N]} matrix to stay in cache, in
 * {@link Parallelism#threads()} threads over contiguous token ranges (each thread its own table-gradient sums), each
 * product one BLAS call on the CPU backend ({@link ThreadedGemm#single}; {@link RowBlocks} says what
 * {@code Nd4j.gemm} adds per call). Only the entries of the retrieved experts are read and written in Java, through
 * {@link RowBuffer}: raw memory access on the CPU backend, the portable {@code DataBuffer} elsewhere. As on the other
 * path, only the retrieved experts' rows of dU and dV go to the {@link PeerExperts.RowSink}: rows of experts no token
 * retrieved get nothing.
 */
final class DenseExperts implements ExpertComputation {

    /** Entries of one block's {@code [rows, N]} matrix: 2^18, 1 MiB in float, so that it stays in a core's L2. */
    static final int BLOCK_ENTRIES = 1 << 18;

    private final INDArray down;
    private final INDArray up;
    private final int[] experts;
    private final int slots;
    private final HiddenActivation activation;
    private final ScratchArrays scratch;
    private final int tokens;
    private final int nIn;
    private final int nOut;
    private final int numExperts;

    /**
     * @param down    u, {@code [N, nIn]}, FLOAT or DOUBLE
     * @param up      v, {@code [N, nOut]}, of the same type
     * @param experts expert id of each slot, {@code [n * slots]} (token-major)
     * @param slots   experts per token, h*k
     * @param scratch where the products' blocks live from pass to pass (the caller's, used from this thread only)
     */
    DenseExperts(INDArray down, INDArray up, int[] experts, int slots, HiddenActivation activation,
                 ScratchArrays scratch) {
        this.down = down;
        this.up = up;
        this.experts = experts;
        this.slots = slots;
        this.activation = activation;
        this.scratch = scratch;
        this.tokens = ExpertComputation.tokens("DenseExperts", experts, slots, activation);
        this.nIn = (int) down.size(1);
        this.nOut = (int) up.size(1);
        this.numExperts = (int) down.size(0);
    }

    @Override
    public PeerExperts.Forward forward(double[] x, double[] gates) {
        checkLengths(x, gates);
        Lane[] lanes = lanes(false);
        double[] pre = new double[experts.length];
        double[] act = new double[experts.length];
        double[] slope = new double[experts.length];
        double[] weights = new double[experts.length];
        double[] output = new double[tokens * nOut];
        run(lanes, (lane, from, rows) -> {
            INDArray xs = lane.load(lane.x, x, from, rows);
            INDArray product = Lane.rows(lane.product, rows);
            ThreadedGemm.single(xs, down, product, false, true, 1.0, 0.0);                   // X U^T
            RowBuffer entries = RowBuffer.of(product);
            for (int r = 0; r < rows; r++) {
                int t = from + r;
                for (int p = t * slots; p < (t + 1) * slots; p++) {
                    pre[p] = entries.get(r, experts[p]);
                }
            }
            int end = (from + rows) * slots;
            SlotActivation.apply(activation, down.dataType(), pre, from * slots, end, act, slope,
                    rows == lane.product.size(0) ? lane.erfs : null);                   // a shorter last block: new
            for (int p = from * slots; p < end; p++) {
                weights[p] = gates[p] * act[p];
            }
            INDArray a = lane.scatter(weights, from, rows);                                          // C o act(Pre)
            INDArray y = Lane.rows(lane.outputs, rows);
            ThreadedGemm.single(a, up, y, false, false, 1.0, 0.0);
            lane.store(y, output, from, rows);
        });
        return new PeerExperts.Forward(output, act, slope, ExpertGroups.of(experts));
    }

    /**
     * {@inheritDoc} Here the gate gradients are complete after the first of two passes over the blocks (D), and
     * {@code gateGradients} runs in another thread while the second (dPre, A and their four products) runs.
     */
    @Override
    public PeerExperts.Gradients backward(double[] x, double[] gates, PeerExperts.Forward forward, double[] epsilon,
                                          PeerExperts.RowSink tables, Consumer<double[]> gateGradients) {
        checkLengths(x, gates);
        double[] act = forward.activations();
        double[] slope = forward.slopes();
        double[] gateGrads = new double[experts.length];
        double[] preGrads = new double[experts.length];
        Lane[] lanes = lanes(true);
        run(lanes, (lane, from, rows) -> {
            INDArray es = lane.load(lane.epsilon, epsilon, from, rows);
            INDArray product = Lane.rows(lane.product, rows);
            ThreadedGemm.single(es, up, product, false, true, 1.0, 0.0);                    // D = eps V^T
            RowBuffer entries = RowBuffer.of(product);
            for (int r = 0; r < rows; r++) {
                int t = from + r;
                for (int p = t * slots; p < (t + 1) * slots; p++) {
                    double d = entries.get(r, experts[p]);
                    gateGrads[p] = act[p] * d;
                    preGrads[p] = gates[p] * slope[p] * d;
                }
            }
        });
        ForkJoinTask<?> gatePath = ForkJoinPool.commonPool().submit(() -> gateGradients.accept(gateGrads));
        double[] weights = weights(gates, act);
        double[] inputGrads = new double[tokens * nIn];
        try {
            tableAndInputGradients(lanes, x, epsilon, preGrads, weights, inputGrads);
        } catch (RuntimeException | Error e) {
            gatePath.quietlyJoin();                                       // not left running past this pass
            throw e;
        }
        gatePath.join();
        for (int k = 1; k < lanes.length; k++) {
            if (lanes[k].blocks > 0) {
                lanes[0].downGrads.addi(lanes[k].downGrads);
                lanes[0].upGrads.addi(lanes[k].upGrads);
            }
        }
        deliver(forward.byExpert(), lanes[0], tables);
        return new PeerExperts.Gradients(gateGrads, inputGrads);
    }

    /** The backward pass's second pass over the blocks: dL/dX into {@code inputGrads}, each lane's dU and dV sums. */
    private void tableAndInputGradients(Lane[] lanes, double[] x, double[] epsilon, double[] preGrads,
                                        double[] weights, double[] inputGrads) {
        run(lanes, (lane, from, rows) -> {
            INDArray xs = lane.load(lane.x, x, from, rows);
            INDArray es = lane.load(lane.epsilon, epsilon, from, rows);
            INDArray dPre = lane.scatter(preGrads, from, rows);                              // C o act'(Pre) o D
            INDArray dx = Lane.rows(lane.inputGrads, rows);
            ThreadedGemm.single(dPre, down, dx, false, false, 1.0, 0.0);
            lane.store(dx, inputGrads, from, rows);
            double beta = lane.blocks++ == 0 ? 0.0 : 1.0;                  // the lane's first block starts its sums
            ThreadedGemm.single(dPre, xs, lane.downGrads, true, false, 1.0, beta);
            INDArray a = lane.scatter(weights, from, rows);
            ThreadedGemm.single(a, es, lane.upGrads, true, false, 1.0, beta);
        });
    }

    /** Hands each retrieved expert's rows of the summed table gradients to {@code tables}, experts split by thread. */
    private void deliver(ExpertGroups groups, Lane sums, PeerExperts.RowSink tables) {
        if (groups.groups() == 0) {
            return;
        }
        groups.inParallel(0, (from, to, unused) -> {
            RowBuffer downRows = RowBuffer.of(sums.downGrads);
            RowBuffer upRows = RowBuffer.of(sums.upGrads);
            PeerExperts.RowConsumer consumer = tables.open();
            double[] downGrad = new double[nIn];
            double[] upGrad = new double[nOut];
            for (int g = from; g < to; g++) {
                downRows.get(groups.expert(g), downGrad);
                upRows.get(groups.expert(g), upGrad);
                consumer.accept(groups.expert(g), downGrad, upGrad);
            }
        });
    }

    /** {@code g_p a_p}, the entries of C o act(Pre) slot by slot. */
    private static double[] weights(double[] gates, double[] act) {
        double[] w = new double[gates.length];
        for (int p = 0; p < w.length; p++) {
            w[p] = gates[p] * act[p];
        }
        return w;
    }

    @FunctionalInterface
    private interface Block {
        /** Handles tokens {@code [from, from + rows)} with the lane's arrays. */
        void run(Lane lane, int from, int rows);
    }

    /** One thread's contiguous range of tokens, in blocks of at most {@link #blockRows()} rows. */
    private void run(Lane[] lanes, Block block) {
        int blockRows = blockRows();
        IntStream.range(0, lanes.length).parallel().forEach(k -> {
            int end = Parallelism.bound(tokens, k + 1, lanes.length);
            for (int from = Parallelism.bound(tokens, k, lanes.length); from < end; from += blockRows) {
                block.run(lanes[k], from, Math.min(blockRows, end - from));
            }
        });
    }

    private int blockRows() {
        int perThread = (tokens + threads() - 1) / threads();
        return Math.max(1, Math.min(BLOCK_ENTRIES / numExperts, perThread));
    }

    private int threads() {
        return Math.max(1, Math.min(Parallelism.threads(), tokens));
    }

    /** Each thread's arrays, taken from the scratch arrays here, in the calling thread (they are not thread safe). */
    private Lane[] lanes(boolean backward) {
        DataType type = down.dataType();
        int rows = blockRows();
        Lane[] lanes = new Lane[threads()];
        for (int k = 0; k < lanes.length; k++) {
            lanes[k] = new Lane(scratch.rows("product" + k, type, rows, numExperts),
                    backward || type != DataType.DOUBLE ? null
                            : scratch.get("erfs" + k, DataType.DOUBLE, (long) rows * slots),
                    scratch.rows("x" + k, type, rows, nIn),
                    backward ? scratch.rows("epsilon" + k, type, rows, nOut) : null,
                    backward ? null : scratch.rows("outputs" + k, type, rows, nOut),
                    backward ? scratch.rows("inputGrads" + k, type, rows, nIn) : null,
                    backward ? scratch.get("downGrads" + k, type, numExperts, nIn) : null,
                    backward ? scratch.get("upGrads" + k, type, numExperts, nOut) : null,
                    this);
        }
        return lanes;
    }

    /** One thread's blocks ({@code [blockRows, width]}, used through views of their first rows) and gradient sums. */
    private static final class Lane {
        final INDArray product;
        /** Where the forward pass's erf runs for DOUBLE tables, a block's slots (DOUBLE); else null. */
        final INDArray erfs;
        final INDArray x;
        final INDArray epsilon;
        final INDArray outputs;
        final INDArray inputGrads;
        final INDArray downGrads;
        final INDArray upGrads;
        private final int[] experts;
        private final int slots;
        /** Blocks this lane has added to its gradient sums. */
        int blocks;

        Lane(INDArray product, INDArray erfs, INDArray x, INDArray epsilon, INDArray outputs, INDArray inputGrads,
             INDArray downGrads, INDArray upGrads, DenseExperts owner) {
            this.product = product;
            this.erfs = erfs;
            this.x = x;
            this.epsilon = epsilon;
            this.outputs = outputs;
            this.inputGrads = inputGrads;
            this.downGrads = downGrads;
            this.upGrads = upGrads;
            this.experts = owner.experts;
            this.slots = owner.slots;
        }

        /** The first {@code rows} rows of {@code block} (a view from row 0, which M2.1 handles correctly). */
        static INDArray rows(INDArray block, int rows) {
            return block.size(0) == rows ? block : block.get(NDArrayIndex.interval(0, rows), NDArrayIndex.all());
        }

        /** Rows {@code [from, from + rows)} of the row-major {@code values} in the first rows of {@code block}. */
        INDArray load(INDArray block, double[] values, int from, int rows) {
            INDArray target = rows(block, rows);
            RowBuffer out = RowBuffer.of(target);
            double[] row = new double[out.width()];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(values, (from + r) * row.length, row, 0, row.length);
                out.put(r, row);
            }
            return target;
        }

        /** The rows of {@code block} into rows {@code [from, from + rows)} of the row-major {@code values}. */
        void store(INDArray block, double[] values, int from, int rows) {
            RowBuffer in = RowBuffer.of(block);
            double[] row = new double[in.width()];
            for (int r = 0; r < rows; r++) {
                in.get(r, row);
                System.arraycopy(row, 0, values, (from + r) * row.length, row.length);
            }
        }

        /**
         * Writes {@code M[t, e] = sum of perSlot[p] over token t's slots p with e_p = e} (zero elsewhere) for the
         * block's tokens into the product block, and returns that block's view.
         */
        INDArray scatter(double[] perSlot, int from, int rows) {
            INDArray target = rows(product, rows);
            RowBlocks.zero(target);                                                // a memset on the CPU backend
            RowBuffer out = RowBuffer.of(target);
            for (int r = 0; r < rows; r++) {
                int t = from + r;
                for (int p = t * slots; p < (t + 1) * slots; p++) {
                    out.put(r, experts[p], out.get(r, experts[p]) + perSlot[p]);     // heads may share an expert
                }
            }
            return target;
        }
    }

    private void checkLengths(double[] x, double[] gates) {
        ExpertComputation.checkLengths("DenseExperts", x, gates, tokens, nIn, experts.length);
    }
}
