package io.github.dl4jmoe.experts;

import io.github.dl4jmoe.ops.RowLookup;
import io.github.dl4jmoe.ops.SdOps;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Token-to-expert dispatch: the selected (token, expert) pairs grouped by expert into a buffer {@code [E, C, d]},
 * so that each expert runs only on its own tokens, and the way back.
 *
 * <p>Pair (t, e) goes to slot {@code e * C + pos}, where pos counts the tokens before t that selected e. Pairs with
 * {@code pos >= C} are dropped (counted in {@link #droppedPairs()}, never silently). The capacity C is either the
 * largest load of the batch (dropless) or {@code ceil(capacityFactor * pairs / E)} (GShard style, with pairs the
 * number of selected pairs, so the factor means the same for top-k and top-p). Empty slots read token 0 and carry
 * gate 0, so they contribute nothing and send back no gradient. {@link #combine} weights each slot by its gate and
 * sums the slots of each token with a segment sum.
 */
public final class TokenDispatch {

    /** Capacity factor meaning "no token is ever dropped". */
    public static final double DROPLESS = 0.0;

    private final SameDiff sd;
    private final SDVariable dispatched;
    private final SDVariable tokenOfSlot;
    private final SDVariable slotGate;
    private final SDVariable numTokens;
    private final SDVariable droppedPairs;
    private final SDVariable capacity;

    private TokenDispatch(SameDiff sd, SDVariable dispatched, SDVariable tokenOfSlot, SDVariable slotGate,
                          SDVariable numTokens, SDVariable droppedPairs, SDVariable capacity) {
        this.sd = sd;
        this.dispatched = dispatched;
        this.tokenOfSlot = tokenOfSlot;
        this.slotGate = slotGate;
        this.numTokens = numTokens;
        this.droppedPairs = droppedPairs;
        this.capacity = capacity;
    }

    /**
     * @param x              tokens {@code [n, d]}
     * @param width          d
     * @param selected       0/1 {@code [n, E]}, no gradient
     * @param gates          {@code [n, E]}, zero where not selected
     * @param capacityFactor {@link #DROPLESS} or a positive factor
     */
    public static TokenDispatch plan(SameDiff sd, SDVariable x, long width, SDVariable selected, SDVariable gates,
                                     long numExperts, double capacityFactor) {
        DataType ft = x.dataType();
        SDVariable pos = sd.cumsum(selected, true, false, 0);                                  // [n, E]
        SDVariable pairs = selected.sum();
        SDVariable capacity = capacityFactor == DROPLESS
                ? SdOps.sumRows(sd, selected, numExperts).max()                                  // largest load
                : sd.math.max(sd.math.ceil(pairs.mul(capacityFactor / numExperts)), sd.constant(1.0).castTo(ft));
        SDVariable kept = selected.mul(pos.lt(capacity).castTo(ft));                          // [n, E]
        SDVariable dropped = pairs.sub(kept.sum());

        SDVariable expertIndex = sd.constant(Nd4j.arange(numExperts).castTo(ft).reshape(1, numExperts));
        SDVariable slot = expertIndex.mul(capacity).add(pos).mul(kept).castTo(DataType.INT32).reshape(-1);  // [n*E]
        SDVariable numSlots = capacity.mul(numExperts).castTo(DataType.INT32);
        SDVariable n = sd.sizeAt(x, 0);
        SDVariable one = sd.constant(1.0).castTo(ft);
        SDVariable tokenPlusOne = sd.range(one, n.castTo(ft).add(1.0), one, ft).reshape(-1, 1);  // [n, 1]
        SDVariable tokenOfSlot = sd.nn.relu(sd.unsortedSegmentSum(tokenPlusOne.mul(kept).reshape(-1), slot, numSlots)
                .sub(1.0), 0.0).castTo(DataType.INT32);                                     // [E*C]
        SDVariable slotGate = sd.unsortedSegmentSum(gates.mul(kept).reshape(-1), slot, numSlots).reshape(-1, 1);

        SDVariable bufferShape = sd.concat(0, sd.constant(Nd4j.createFromArray(numExperts)),
                capacity.castTo(DataType.INT64).reshape(1), sd.constant(Nd4j.createFromArray(width)));
        SDVariable dispatched = sd.reshape(RowLookup.lookup(sd, x, tokenOfSlot), bufferShape); // [E, C, d]
        return new TokenDispatch(sd, dispatched, tokenOfSlot, slotGate, n.castTo(DataType.INT32), dropped, capacity);
    }

    /** The tokens grouped by expert, {@code [E, C, d]}. */
    public SDVariable dispatched() {
        return dispatched;
    }

    /**
     * @param expertOutput {@code [E, C, nOut]}, row c of slice e computed from {@code dispatched()[e, c]}
     * @return {@code sum_e gate[t, e] * expert_e(x_t)} for every token, {@code [n, nOut]}
     */
    public SDVariable combine(SDVariable expertOutput, long nOut) {
        SDVariable weighted = sd.reshape(expertOutput, -1, nOut).mul(slotGate);                 // [E*C, nOut]
        return sd.unsortedSegmentSum(weighted, tokenOfSlot, numTokens);                         // [n, nOut]
    }

    /** Selected pairs that did not fit the capacity, scalar. */
    public SDVariable droppedPairs() {
        return droppedPairs;
    }

    /** Slots per expert, scalar. */
    public SDVariable capacity() {
        return capacity;
    }
}
