package io.github.dl4jmoe.zoo;

import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

import io.github.dl4jmoe.runtime.BaseMoeLayer;
import org.deeplearning4j.exception.DL4JInvalidConfigException;

/** The validated feed-forward layer of each block of a zoo model: a kind's default or a configured layer. */
final class FeedForwardBlocks {

    private final FeedForwardKind[] kinds;
    private final Map<Integer, BaseMoeLayer> custom;
    private final long width;

    /**
     * @param kinds  one kind per block, or null for {@code all} in every block
     * @param custom configured layers by block index, replacing that block's default
     */
    FeedForwardBlocks(ZooArguments args, int blocks, long width, FeedForwardKind all, FeedForwardKind[] kinds,
                      Map<Integer, BaseMoeLayer> custom) {
        if (kinds == null) {
            args.require(all != null, "feedForward", null, "must be set", "try FeedForwardKind.DENSE");
            kinds = new FeedForwardKind[Math.max(0, blocks)];
            Arrays.fill(kinds, all);
        }
        args.require(kinds.length == blocks, "feedForward", Arrays.toString(kinds),
                "must name one kind per block (" + blocks + ")", "pass " + blocks + " kinds or a single one");
        args.require(Arrays.stream(kinds).allMatch(Objects::nonNull), "feedForward", Arrays.toString(kinds),
                "must not contain null", "use FeedForwardKind.DENSE");
        for (Map.Entry<Integer, BaseMoeLayer> e : custom.entrySet()) {
            int block = e.getKey();
            BaseMoeLayer layer = e.getValue();
            args.require(block >= 0 && block < blocks, "feedForwardLayer block", block,
                    "must be in [0, " + blocks + ")", "number blocks from 0");
            args.require(layer != null, "feedForwardLayer(" + block + ")", null, "must not be null",
                    "pass a layer config or leave the block's kind");
            args.require(fits(layer.getNIn(), width) && fits(layer.getNOut(), width),
                    "feedForwardLayer(" + block + ") nIn/nOut", layer.getNIn() + "/" + layer.getNOut(),
                    "must equal the model width " + width,
                    "build it with nIn(" + width + ") or leave nIn and nOut unset");
        }
        this.kinds = kinds.clone();
        this.custom = Map.copyOf(custom);
        this.width = width;
        for (int i = 0; i < blocks; i++) {
            if (!custom.containsKey(i)) {      // a kind's default layer may not fit the width (FINER_MOE: even)
                try {
                    layer(i);
                } catch (IllegalArgumentException | DL4JInvalidConfigException e) {
                    args.require(false, "feedForward[" + i + "]", kinds[i], "must fit the model width " + width
                            + " [" + e.getMessage() + "]", "choose another width or kind");
                }
            }
        }
    }

    private static boolean fits(long layerWidth, long width) {
        return layerWidth == 0 || layerWidth == width;
    }

    /** Block {@code i}'s layer config with nIn = nOut = width, a fresh copy on each call. */
    BaseMoeLayer layer(int i) {
        BaseMoeLayer configured = custom.get(i);
        if (configured == null) {
            return kinds[i].defaultLayer(width);
        }
        BaseMoeLayer copy = (BaseMoeLayer) configured.clone();
        copy.setNIn(width);
        copy.setNOut(width);
        return copy;
    }

    int size() {
        return kinds.length;
    }

    /** The kind of every block, if all blocks are one kind's default layer. */
    Optional<FeedForwardKind> onlyKind() {
        boolean one = custom.isEmpty() && Arrays.stream(kinds).distinct().count() == 1;
        return one ? Optional.of(kinds[0]) : Optional.empty();
    }

    /** Whether a block has a configured layer in place of its kind's default. */
    boolean hasConfiguredLayers() {
        return !custom.isEmpty();
    }

    FeedForwardKind[] kinds() {
        return kinds.clone();
    }
}
