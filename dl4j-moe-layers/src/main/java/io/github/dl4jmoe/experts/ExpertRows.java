package io.github.dl4jmoe.experts;

import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.RowBlocks;
import io.github.dl4jmoe.host.RowBlocks.Block;
import io.github.dl4jmoe.host.ScratchArrays;
import io.github.dl4jmoe.ops.HiddenActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Every routed expert's feed-forward block, eagerly, on one matrix of rows: the kept (token, expert) pairs sorted by
 * expert, expert e on rows {@code [start(e), start(e + 1))}. Each expert's products run on its blocks of rows
 * ({@link RowBlocks}), the experts split over threads; the activation and its backward pass run once on each thread's
 * rows. A step thus costs 3 products per expert forward and 6 backward (gated; 2 and 4 otherwise) and a fixed number
 * of other operations, where one {@link FeedForwardPass} per expert also paid its activation's, copies' and gradient
 * slices' operations per expert.
 * <pre>
 *   up_r = x_r W_up[e], gate_r = x_r W_gate[e], hidden_r = act(up_r, gate_r), y_r = hidden_r W_down[e]   (r of e)
 * </pre>
 * Arrays are reused from pass to pass (one instance per layer); those a pass returns are valid until the next one.
 */
final class ExpertRows {

    /** Below this many rows per thread the products run in the calling thread alone. */
    static final int MIN_ROWS_PER_THREAD = 256;

    private final ScratchArrays scratch = new ScratchArrays();

    /**
     * The expert tables {@code up, gate [E, d, h]} (gate null unless gated) and {@code down [E, h, w]}, row-major.
     */
    record Tables(INDArray up, INDArray gate, INDArray down) {
        int experts() {
            return (int) up.size(0);
        }
    }

    /** A forward pass: its rows {@code x [P, d]}, expert boundaries, intermediates and output {@code [P, w]}. */
    record Forward(int[] starts, INDArray x, INDArray up, INDArray gate, INDArray hidden, INDArray aux,
                   INDArray output) {
    }

    /** The gradients of the rows {@code [P, d]} and of the three tables (gate null unless gated). */
    record Gradients(INDArray input, INDArray up, INDArray gate, INDArray down) {
    }

    /**
     * @param x      the rows, sorted by expert, {@code [P, d]} row-major, at the start of its buffer
     * @param starts {@code E + 1} row boundaries, {@code starts[E] = P}
     */
    Forward forward(Tables w, HiddenActivation activation, INDArray x, int[] starts) {
        DataType type = x.dataType();
        long rows = x.size(0);
        long h = w.up().size(2);
        INDArray up = scratch.rows("up", type, rows, h);
        INDArray gate = w.gate() == null ? null : scratch.rows("gate", type, rows, h);
        INDArray hidden = scratch.rows("hidden", type, rows, h);
        INDArray aux = scratch.rows("aux", type, rows, h);
        INDArray out = scratch.rows("out", type, rows, w.down().size(2));
        forEachPart(starts, (from, to) -> {
            for (int e = from; e < to; e++) {
                Block in = rowsOf(x, starts, e);
                if (in.rows() > 0) {
                    RowBlocks.gemm(in, false, Block.slice(w.up(), e), false, rowsOf(up, starts, e), 1, 0);
                    if (gate != null) {
                        RowBlocks.gemm(in, false, Block.slice(w.gate(), e), false, rowsOf(gate, starts, e), 1, 0);
                    }
                }
            }
            Span span = new Span(starts[from], starts[to]);
            if (span.isEmpty()) {
                return;
            }
            activation.forward(span.of(up), span.of(gate), span.of(hidden), span.of(aux));
            for (int e = from; e < to; e++) {
                Block in = rowsOf(hidden, starts, e);
                if (in.rows() > 0) {
                    RowBlocks.gemm(in, false, Block.slice(w.down(), e), false, rowsOf(out, starts, e), 1, 0);
                }
            }
        });
        return new Forward(starts, x, up, gate, hidden, aux, out);
    }

    /**
     * @param dOutput dL/dy {@code [P, w]}
     * @param targets where the table gradients go, row-major arrays shaped as the tables (parameter gradient views:
     *                only on the CPU path, {@link RowBlocks#rawPath()}); null: arrays of this instance
     */
    Gradients backward(Tables w, HiddenActivation activation, Forward f, INDArray dOutput, Tables targets) {
        DataType type = dOutput.dataType();
        int[] starts = f.starts();
        long rows = dOutput.size(0);
        long h = w.up().size(2);
        INDArray dDown = targets != null ? targets.down() : scratch.get("dDown", type, w.down().shape());
        INDArray dHidden = scratch.rows("dHidden", type, rows, h);
        INDArray dUpPre = scratch.rows("dUpPre", type, rows, h);
        INDArray dGatePre = w.gate() == null ? null : scratch.rows("dGatePre", type, rows, h);
        INDArray tmp = scratch.rows("tmp", type, rows, h);
        INDArray dUp = targets != null ? targets.up() : scratch.get("dUp", type, w.up().shape());
        INDArray dGate = w.gate() == null ? null
                : targets != null ? targets.gate() : scratch.get("dGate", type, w.gate().shape());
        INDArray dx = scratch.rows("dx", type, rows, f.x().size(1));
        forEachPart(starts, (from, to) -> {
            for (int e = from; e < to; e++) {
                Block dOut = rowsOf(dOutput, starts, e);
                if (dOut.rows() == 0) {
                    zero(dDown, e);
                    zero(dUp, e);
                    if (dGate != null) {
                        zero(dGate, e);
                    }
                    continue;
                }
                RowBlocks.gemm(rowsOf(f.hidden(), starts, e), true, dOut, false, Block.slice(dDown, e), 1, 0);
                RowBlocks.gemm(dOut, false, Block.slice(w.down(), e), true, rowsOf(dHidden, starts, e), 1, 0);
            }
            Span span = new Span(starts[from], starts[to]);
            if (span.isEmpty()) {
                return;
            }
            activation.backward(span.of(f.up()), span.of(f.gate()), span.of(f.aux()), span.of(dHidden),
                    span.of(dUpPre), span.of(dGatePre), span.of(tmp));
            for (int e = from; e < to; e++) {
                Block x = rowsOf(f.x(), starts, e);
                if (x.rows() == 0) {
                    continue;
                }
                Block dUpRows = rowsOf(dUpPre, starts, e);
                Block dxRows = rowsOf(dx, starts, e);
                RowBlocks.gemm(x, true, dUpRows, false, Block.slice(dUp, e), 1, 0);
                RowBlocks.gemm(dUpRows, false, Block.slice(w.up(), e), true, dxRows, 1, 0);
                if (dGate != null) {
                    Block dGateRows = rowsOf(dGatePre, starts, e);
                    RowBlocks.gemm(x, true, dGateRows, false, Block.slice(dGate, e), 1, 0);
                    RowBlocks.gemm(dGateRows, false, Block.slice(w.gate(), e), true, dxRows, 1, 1);
                }
            }
        });
        return new Gradients(dx, dUp, dGate, dDown);
    }

    /** The work of one thread: experts {@code [from, to)}, whose rows are contiguous. */
    @FunctionalInterface
    private interface ExpertRange {
        void run(int from, int to);
    }

    /**
     * Runs {@code part} on contiguous ranges of experts with about as many rows each, one per thread of
     * {@link Parallelism#threads()}. Experts write disjoint rows and table slices, so the order is free.
     */
    private static void forEachPart(int[] starts, ExpertRange part) {
        int experts = starts.length - 1;
        int rows = starts[experts];
        int parts = Math.max(1, Math.min(Parallelism.threads(), Math.min(experts, rows / MIN_ROWS_PER_THREAD)));
        int[] bounds = Parallelism.groupBounds(starts, experts, parts);
        Parallelism.inParts(parts, p -> part.run(bounds[p], bounds[p + 1]));
    }

    /** Rows {@code [from, to)} of the pass's row matrices: one thread's experts. */
    private record Span(long from, long to) {
        boolean isEmpty() {
            return to == from;
        }

        /** The span's rows of {@code rows} as a view; null for null (the gate of an ungated activation). */
        INDArray of(INDArray rows) {
            return rows == null ? null : rows.get(NDArrayIndex.interval(from, to), NDArrayIndex.all());
        }
    }

    private static Block rowsOf(INDArray rows, int[] starts, int expert) {
        return new Block(rows, starts[expert], starts[expert + 1] - starts[expert]);
    }

    /** Slice {@code e} of a table gradient: an expert without rows gets none. */
    private static void zero(INDArray table, int e) {
        RowBlocks.zero(Block.slice(table, e));
    }
}
