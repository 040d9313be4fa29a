package io.github.dl4jmoe.peer;

import java.util.function.Consumer;

import io.github.dl4jmoe.ops.HiddenActivation;

/**
 * PEER's experts {@code f(x_t) = sum_p g_p act(u_{e_p} . x_t) v_{e_p}} over each token's slots, forward and backward,
 * in one of two ways with the same results ({@code DenseExpertsTest}): {@link PeerExperts} reads only the retrieved
 * rows, in Java loops, for large tables; {@link DenseExperts} computes every expert with matrix products, for tables
 * that are small relative to the slots ({@link PeerPath}).
 */
interface ExpertComputation {

    /**
     * @param x     tokens {@code [n, nIn]} row-major
     * @param gates {@code [n * slots]}
     */
    PeerExperts.Forward forward(double[] x, double[] gates);

    /**
     * The backward pass of {@link #forward} for {@code epsilon = dL/df}, {@code [n, nOut]}; the table gradients go to
     * {@code tables}, once per retrieved expert, after the pass has read the tables.
     *
     * @param forward       the forward pass of the same {@code x}, gates and tables
     * @param gateGradients receives dL/dg ({@code [n * slots]}) once it is complete, before this method returns; it may
     *                      run in another thread, concurrently with the rest of the pass (so it must not touch the
     *                      expert tables), which lets the caller's backward pass through the gates and the queries
     *                      overlap with the table and input gradients
     */
    PeerExperts.Gradients backward(double[] x, double[] gates, PeerExperts.Forward forward, double[] epsilon,
                                   PeerExperts.RowSink tables, Consumer<double[]> gateGradients);

    /**
     * The number of tokens of {@code experts}, {@code slots} ids per token, after checking that they divide and that
     * PEER supports {@code activation}; errors start with {@code owner}.
     */
    static int tokens(String owner, int[] experts, int slots, HiddenActivation activation) {
        SlotActivation.check(activation, owner);
        if (experts.length % slots != 0) {
            throw new IllegalArgumentException(owner + ": " + experts.length + " expert ids for " + slots
                    + " slots per token");
        }
        return experts.length / slots;
    }

    /** Checks a pass's inputs against {@code tokens} tokens of width {@code nIn} and one gate per slot. */
    static void checkLengths(String owner, double[] x, double[] gates, int tokens, int nIn, int slotCount) {
        if (x.length != (long) tokens * nIn || gates.length != slotCount) {
            throw new IllegalArgumentException(owner + ": " + tokens + " tokens of width " + nIn + " and "
                    + slotCount + " slots, got " + x.length + " input values and " + gates.length + " gates");
        }
    }
}
