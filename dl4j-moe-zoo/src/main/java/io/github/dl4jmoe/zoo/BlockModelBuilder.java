package io.github.dl4jmoe.zoo;

import java.util.HashMap;
import java.util.Map;

import io.github.dl4jmoe.runtime.BaseMoeLayer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.IUpdater;

/**
 * What the builders of zoo models made of feed-forward blocks share: the kind or configured layer of each block,
 * the updater, the seed and the data type.
 *
 * @param <B> the concrete builder, returned by every setter
 */
public abstract class BlockModelBuilder<B extends BlockModelBuilder<B>> {

    FeedForwardKind defaultKind;
    FeedForwardKind[] feedForward;
    final Map<Integer, BaseMoeLayer> customFeedForward = new HashMap<>();
    IUpdater updater;
    long seed;
    DataType dataType = DataType.FLOAT;

    BlockModelBuilder(FeedForwardKind defaultKind, IUpdater updater, long seed) {
        this.defaultKind = defaultKind;
        this.updater = updater;
        this.seed = seed;
    }

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** The same feed-forward kind in every block. */
    public B feedForward(FeedForwardKind kind) {
        this.defaultKind = kind;
        this.feedForward = null;
        return self();
    }

    /** One feed-forward kind per block, in order; the count must equal the number of blocks. */
    public B feedForward(FeedForwardKind... kinds) {
        this.feedForward = kinds == null ? null : kinds.clone();
        return self();
    }

    /**
     * A configured layer as block {@code block}'s feed-forward (blocks count from 0), in place of its kind's default.
     * Its nIn and nOut must equal the model width, or be unset (0).
     */
    public B feedForwardLayer(int block, BaseMoeLayer layer) {
        customFeedForward.put(block, layer);
        return self();
    }

    public B updater(IUpdater updater) {
        this.updater = updater;
        return self();
    }

    public B seed(long seed) {
        this.seed = seed;
        return self();
    }

    /** FLOAT by default; DOUBLE for gradient checks. */
    public B dataType(DataType dataType) {
        this.dataType = dataType;
        return self();
    }

    /** Checks the shared arguments and resolves the blocks' layers. */
    FeedForwardBlocks blocks(ZooArguments args, int blocks, long width) {
        args.require(updater != null, "updater", null, "must be set", "try new Adam(1e-3)");
        args.require(dataType != null && dataType.isFPType(), "dataType", dataType, "must be a floating point type",
                "use DataType.FLOAT");
        return new FeedForwardBlocks(args, blocks, width, defaultKind, feedForward, customFeedForward);
    }
}
