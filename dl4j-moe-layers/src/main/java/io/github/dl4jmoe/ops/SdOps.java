package io.github.dl4jmoe.ops;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ops.impl.controlflow.compat.StopGradient;
import org.nd4j.linalg.factory.Nd4j;

/** Small graph helpers that avoid M2.1 ops without backprop ({@code where}) or with surprising defaults. */
public final class SdOps {

    private SdOps() {
    }

    /** Identity in the forward pass; no gradient flows back into {@code x}. */
    public static SDVariable stopGradient(SameDiff sd, SDVariable x) {
        return new StopGradient(sd, x).outputVariable();
    }

    /**
     * Column sums of {@code x [n, width]}, {@code [width]}, for any n including 1. M2.1's reductions along a dimension
     * of size 1 fail in SameDiff ("this.x is null"), which a batch of one token would hit; a zero row is appended
     * first so the reduced dimension always has at least two entries.
     */
    public static SDVariable sumRows(SameDiff sd, SDVariable x, long width) {
        SDVariable zeroRow = sd.constant(Nd4j.zeros(x.dataType(), 1, width));
        return sd.concat(0, x, zeroRow).sum(0);
    }

    /** Column means of {@code x [n, width]}, {@code [width]}, for any n including 1 (see {@link #sumRows}). */
    public static SDVariable meanRows(SameDiff sd, SDVariable x, long width) {
        return sumRows(sd, x, width).div(sd.sizeAt(x, 0).castTo(x.dataType()));
    }

    /** {@code mask * ifOne + (1 - mask) * ifZero}, differentiable in both branches; {@code mask} holds 0 or 1. */
    public static SDVariable select(SDVariable mask, SDVariable ifOne, SDVariable ifZero) {
        return ifOne.mul(mask).add(ifZero.mul(mask.rsub(1.0)));
    }
}
