package io.github.dl4jmoe.runtime;

import java.lang.ref.Reference;
import java.util.Arrays;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The unmasked tokens of a layer input as rows, and the way back.
 *
 * <p>2D input {@code [mb, w]} has one token per example; 3D input {@code [mb, w, T]} (NCW) has one per time step,
 * in row order {@code b * T + t}. A mask ({@code [mb, T]}, or {@code [mb, 1]} for 2D) removes tokens: they are not in
 * {@link #tokens()}, and {@link #toLayerShape} writes zeros for them.
 */
final class TokenRows {

    private final long minibatch;
    private final long steps;
    private final boolean sequence;
    /** Kept token positions in {@code [0, mb * T)}, or null when every token is kept. */
    private final int[] kept;
    private final INDArray tokens;

    private TokenRows(long minibatch, long steps, boolean sequence, int[] kept, INDArray tokens) {
        this.minibatch = minibatch;
        this.steps = steps;
        this.sequence = sequence;
        this.kept = kept;
        this.tokens = tokens;
    }

    static TokenRows of(INDArray input, INDArray mask, String layerDescription) {
        if (input.rank() != 2 && input.rank() != 3) {
            throw new IllegalArgumentException(layerDescription
                    + ": expected input [minibatch, nIn] or [minibatch, nIn, T], got shape "
                    + Arrays.toString(input.shape()));
        }
        boolean sequence = input.rank() == 3;
        long mb = input.size(0);
        long steps = sequence ? input.size(2) : 1;
        if (mb * steps > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(layerDescription + ": " + mb * steps
                    + " tokens in one minibatch; at most " + Integer.MAX_VALUE + " are supported");
        }
        int[] kept = keptPositions(mask, mb, steps, layerDescription);
        TokenRows shapeOnly = new TokenRows(mb, steps, sequence, kept, null);
        return new TokenRows(mb, steps, sequence, kept, shapeOnly.toTokens(input));
    }

    /** Tokens {@code [n, nIn]}, c-order. */
    INDArray tokens() {
        return tokens;
    }

    int count() {
        return kept == null ? (int) (minibatch * steps) : kept.length;
    }

    long minibatch() {
        return minibatch;
    }

    /** The kept tokens of any array shaped like the layer's input or output ({@code [mb, w]} or {@code [mb, w, T]}). */
    INDArray toTokens(INDArray layerShaped) {
        long width = layerShaped.size(1);
        INDArray all;
        if (sequence) {
            all = layerShaped.permute(0, 2, 1).dup('c').reshape('c', new long[] {minibatch * steps, width});
        } else {
            all = layerShaped.ordering() == 'c' && !layerShaped.isView() ? layerShaped : layerShaped.dup('c');
        }
        if (kept == null) {
            return all;
        }
        if (kept.length == 0) {
            return Nd4j.create(all.dataType(), 0, width);
        }
        INDArray rows = Nd4j.pullRows(all, 1, kept);
        Reference.reachabilityFence(all);     // a temporary: collected during the native copy, it crashed the JVM
        return rows;
    }

    /** Token rows {@code [n, w]} back to the layer's shape, zeros at masked positions. */
    INDArray toLayerShape(INDArray rows, long width) {
        INDArray all;
        if (kept == null) {
            all = rows;
        } else {
            all = Nd4j.zeros(rows.dataType(), minibatch * steps, width);
            for (int i = 0; i < kept.length; i++) {
                all.putRow(kept[i], rows.getRow(i));
            }
        }
        if (!sequence) {
            return all;
        }
        return all.reshape('c', new long[] {minibatch, steps, width}).permute(0, 2, 1).dup('c');
    }

    private static int[] keptPositions(INDArray mask, long mb, long steps, String layerDescription) {
        if (mask == null) {
            return null;
        }
        if (mask.length() != mb * steps) {
            throw new IllegalArgumentException(layerDescription + ": mask of shape " + Arrays.toString(mask.shape())
                    + " does not fit input with minibatch " + mb + " and " + steps + " time steps (expected ["
                    + mb + ", " + steps + "])");
        }
        double[] flat = mask.reshape('c', new long[] {mb * steps}).toDoubleVector();
        int n = 0;
        for (double m : flat) {
            if (m != 0.0) {
                n++;
            }
        }
        if (n == flat.length) {
            return null;
        }
        int[] kept = new int[n];
        int j = 0;
        for (int i = 0; i < flat.length; i++) {
            if (flat[i] != 0.0) {
                kept[j++] = i;
            }
        }
        return kept;
    }
}
