package io.github.dl4jmoe.ops;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ops.impl.controlflow.compat.StopGradient;

/** Small graph helpers that avoid M2.1 ops without backprop ({@code where}) or with surprising defaults. */
public final class SdOps {

    private SdOps() {
    }

    /** Identity in the forward pass; no gradient flows back into {@code x}. */
    public static SDVariable stopGradient(SameDiff sd, SDVariable x) {
        return new StopGradient(sd, x).outputVariable();
    }

    /**
     * A boolean (or 0/1 numeric) condition as a 0/1 mask of {@code like}'s floating-point type. Multiply by it instead
     * of using {@code where}, which has no backprop in M2.1.
     */
    public static SDVariable mask(SDVariable condition, SDVariable like) {
        return condition.castTo(like.dataType());
    }

    /** {@code mask * ifOne + (1 - mask) * ifZero}, differentiable in both branches; {@code mask} holds 0 or 1. */
    public static SDVariable select(SDVariable mask, SDVariable ifOne, SDVariable ifZero) {
        return ifOne.mul(mask).add(ifZero.mul(mask.rsub(1.0)));
    }
}
