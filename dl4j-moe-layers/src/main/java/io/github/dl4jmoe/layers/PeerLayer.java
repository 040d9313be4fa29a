package io.github.dl4jmoe.layers;

import java.util.Map;
import java.util.Objects;
import java.util.Set;

import io.github.dl4jmoe.host.HostFunction;
import io.github.dl4jmoe.peer.PeerKeys;
import io.github.dl4jmoe.peer.PeerRetrieval;
import io.github.dl4jmoe.peer.ProductKeyLayer;
import io.github.dl4jmoe.peer.QueryNormalization;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import io.github.dl4jmoe.runtime.LayerGraph;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.weights.WeightInitUtil;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * PEER, parameter-efficient expert retrieval (He 2024, "Mixture of A Million Experts", arXiv 2407.04153):
 * N single-neuron experts {@code e_i(x) = act(u_i . x) v_i}, of which each of h heads retrieves k with product keys.
 * <pre>
 *   q = norm(x W_q)                         per head, size dKey = [q1 | q2]               [n, h, dKey]
 *   s1 = q1 C1^T, s2 = q2 C2^T              half scores over sqrt(N) sub-keys each        [n*h, sqrt(N)]
 *   I = top-k of s1[i] + s2[j]              exact product-key search (host, O(sqrt N + c^2))
 *   g = softmax (or sigmoid) of the k selected scores                                      [n*h, k]
 *   f(x) = sum_heads sum_{i in I} g_i act(u_i . x) v_i                                     [n, nOut]
 * </pre>
 * The whole layer is the graph's host output ({@link LayerGraph#hostOutput}), computed by {@link PeerRetrieval} with
 * its own backward pass: the query network and the half scores, then in Java the search on the half scores (the
 * {@code [tokens, N]} score matrix is never built), the gates, and the experts on the retrieved rows of the down (u)
 * and up (v) tables. The table gradients are therefore row gradients: with
 * {@link TableUpdates#SPARSE} (default) the layer applies them to the touched rows only (lazy Adam or SGD with the
 * layer's configured updater), while every other parameter follows DL4J's updater as usual. The half scores receive
 * the gate gradients at the selected sub-keys, through which the query network and both sub-key sets learn.
 */
public class PeerLayer extends BaseMoeLayer implements ProductKeyLayer {

    public static final String W_QUERY = PeerKeys.W_QUERY;
    public static final String SUB_KEYS_1 = PeerKeys.SUB_KEYS_1;
    public static final String SUB_KEYS_2 = PeerKeys.SUB_KEYS_2;
    public static final String DOWN = PeerKeys.DOWN;
    public static final String UP = PeerKeys.UP;
    public static final String RUNNING_MEAN = PeerKeys.RUNNING_MEAN;
    public static final String RUNNING_VAR = PeerKeys.RUNNING_VAR;

    /** Statistic: retrieved expert indices, {@code [n*h, k]} (row t*h + head). */
    public static final String STAT_EXPERTS = PeerKeys.STAT_EXPERTS;
    /** Statistic: gate of each retrieved expert, {@code [n*h, k]}. */
    public static final String STAT_GATES = PeerKeys.STAT_GATES;

    private static final String HOST_OUTPUT = "expertOutput";

    /** Query normalisation before the key search. */
    public enum QueryNorm {
        /** Batch normalisation without affine parameters (the paper): batch statistics in training, running at
         * inference. */
        BATCH(QueryNormalization.BATCH),
        /** Per-head layer normalisation without affine parameters. */
        LAYER(QueryNormalization.LAYER),
        NONE(QueryNormalization.NONE);

        private final QueryNormalization normalization;

        QueryNorm(QueryNormalization normalization) {
            this.normalization = normalization;
        }

        /** The computation this option names. */
        public QueryNormalization normalization() {
            return normalization;
        }
    }

    /** Router weights over each head's k retrieved experts. */
    public enum Gate {
        /** Softmax over the k scores (the paper). */
        SOFTMAX,
        SIGMOID
    }

    /** How the expert tables are updated. */
    public enum TableUpdates {
        /** Only retrieved rows, by the layer itself (Adam, Sgd or NoOp as configured); the scalable choice. */
        SPARSE,
        /** Dense table gradients through DL4J's updater (any updater; for small N and gradient checks). */
        DENSE
    }

    public static final int DEFAULT_HEADS = 8;
    public static final int DEFAULT_TOP_K = 16;
    public static final int DEFAULT_KEY_SIZE = 128;
    public static final double BATCH_NORM_DECAY = PeerKeys.BATCH_NORM_DECAY;
    public static final double NORM_EPSILON = PeerKeys.NORM_EPSILON;
    public static final long MAX_EXPERTS = 1L << 24;

    private long numExperts;
    private int heads = DEFAULT_HEADS;
    private int topK = DEFAULT_TOP_K;
    private int keySize = DEFAULT_KEY_SIZE;
    private int candidates;
    private FfnActivation activation = FfnActivation.GELU;
    private QueryNorm queryNorm = QueryNorm.BATCH;
    private Gate gate = Gate.SOFTMAX;
    private boolean sharedKeys = true;
    private TableUpdates tableUpdates = TableUpdates.SPARSE;

    protected PeerLayer(Builder b) {
        super(b);
        this.numExperts = b.numExperts;
        this.heads = b.heads;
        this.topK = b.topK;
        this.keySize = b.keySize;
        this.candidates = b.candidates > 0 ? b.candidates : b.topK;
        this.activation = b.activation;
        this.queryNorm = b.queryNorm;
        this.gate = b.gate;
        this.sharedKeys = b.sharedKeys;
        this.tableUpdates = b.tableUpdates;
        validate();
    }

    /** For Jackson. */
    protected PeerLayer() {
    }

    private int subKeys() {
        return (int) Math.round(Math.sqrt((double) numExperts));
    }

    @Override
    public void validate() {
        validateWidths();
        require(numExperts >= 4 && numExperts <= MAX_EXPERTS, "numExperts", numExperts,
                "must be in [4, " + MAX_EXPERTS + "]", "use a perfect square such as 1024 or 1048576");
        long root = (long) Math.floor(Math.sqrt((double) numExperts));
        require(root * root == numExperts, "numExperts", numExperts, "must be a perfect square (product keys)",
                "try " + root * root + " or " + (root + 1) * (root + 1));
        require(heads >= 1, "heads", heads, "must be at least 1", "the paper uses " + DEFAULT_HEADS);
        require(keySize >= 2 && keySize % 2 == 0, "keySize", keySize, "must be even and at least 2",
                "try " + Math.max(2, keySize + (keySize & 1)) + " (the paper uses " + DEFAULT_KEY_SIZE + ")");
        require(topK >= 1 && topK <= root, "topK", topK, "must be in [1, sqrt(numExperts) = " + root + "]",
                "use topK(" + Math.min(DEFAULT_TOP_K, root) + ") or more experts");
        require(candidates >= topK && candidates <= root, "candidates", candidates,
                "must be in [topK = " + topK + ", sqrt(numExperts) = " + root + "] for an exact search",
                "leave it unset to use topK");
        require(activation == FfnActivation.GELU || activation == FfnActivation.RELU, "activation", activation,
                "must be GELU or RELU (single-neuron experts)", "use FfnActivation.GELU");
        require(queryNorm != null, "queryNorm", null, "must be set", "use QueryNorm.BATCH (the paper)");
        require(gate != null, "gate", null, "must be set", "use Gate.SOFTMAX (the paper)");
        require(tableUpdates != null, "tableUpdates", null, "must be set", "use TableUpdates.SPARSE");
        require(numExperts * Math.max(nIn, nOut) < Integer.MAX_VALUE, "numExperts * width",
                numExperts * Math.max(nIn, nOut),
                "must stay below 2^31 - 1 (DL4J counts a layer's parameters in int)",
                "use fewer experts or a smaller width");
    }

    @Override
    public Set<String> stateParamKeys() {
        return queryNorm == QueryNorm.BATCH ? Set.of(RUNNING_MEAN, RUNNING_VAR) : Set.of();
    }

    @Override
    public Set<String> hostUpdatedParamKeys() {
        return tableUpdates == TableUpdates.SPARSE ? Set.of(DOWN, UP) : Set.of();
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        long keyRows = sharedKeys ? subKeys() : (long) heads * subKeys();
        params.addWeightParam(W_QUERY, nIn, (long) heads * keySize);
        params.addWeightParam(SUB_KEYS_1, keyRows, keySize / 2);
        params.addWeightParam(SUB_KEYS_2, keyRows, keySize / 2);
        params.addWeightParam(DOWN, numExperts, nIn);
        params.addWeightParam(UP, numExperts, nOut);
        if (queryNorm == QueryNorm.BATCH) {
            params.addBiasParam(RUNNING_MEAN, 1, (long) heads * keySize);
            params.addBiasParam(RUNNING_VAR, 1, (long) heads * keySize);
        }
    }

    /**
     * Initialisation of the paper's reference code: keys N(0, 1/sqrt(dKey/2)), u N(0, 1/sqrt(d)), v N(0, 1/sqrt(h k)).
     */
    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        INDArray wq = params.get(W_QUERY);
        WeightInitUtil.initWeights(wq.size(0), wq.size(1), wq.shape(), weightInit, null, 'c', wq);
        params.get(SUB_KEYS_1).assign(Nd4j.randn(params.get(SUB_KEYS_1).dataType(), params.get(SUB_KEYS_1).shape())
                .muli(1 / Math.sqrt(keySize / 2.0)));
        params.get(SUB_KEYS_2).assign(Nd4j.randn(params.get(SUB_KEYS_2).dataType(), params.get(SUB_KEYS_2).shape())
                .muli(1 / Math.sqrt(keySize / 2.0)));
        fillNormal(params.get(DOWN), 1 / Math.sqrt(nIn));
        fillNormal(params.get(UP), 1 / Math.sqrt((double) heads * topK));
        if (queryNorm == QueryNorm.BATCH) {
            params.get(RUNNING_MEAN).assign(0);
            params.get(RUNNING_VAR).assign(1);
        }
    }

    /** In blocks of about 4M entries, so a table of hundreds of millions never needs a full-size temporary. */
    private static void fillNormal(INDArray table, double std) {
        long rowsPerBlock = Math.max(1, (1 << 22) / table.size(1));
        for (long r = 0; r < table.size(0); r += rowsPerBlock) {
            long end = Math.min(table.size(0), r + rowsPerBlock);
            INDArray block = table.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(r, end),
                    org.nd4j.linalg.indexing.NDArrayIndex.all());
            block.assign(Nd4j.randn(table.dataType(), block.shape()).muli(std));
        }
    }

    /** What the computation needs of this config. */
    private PeerRetrieval.Settings settings() {
        return new PeerRetrieval.Settings(heads, topK, keySize, subKeys(), candidates, sharedKeys,
                queryNorm.normalization(), gate == Gate.SIGMOID, activation.function(),
                tableUpdates == TableUpdates.SPARSE, nOut);
    }

    /** The graph is the host function's output: PEER's search and sparse tables have no graph formulation. */
    @Override
    public SDVariable defineTokens(LayerGraph g) {
        return g.hostOutput(HOST_OUTPUT, nOut, new PeerRetrieval(settings()), new SDVariable[] {g.input()});
    }

    @Override
    public HostFunction<?> eagerFunction() {
        return new PeerRetrieval(settings());
    }

    @Override
    public long getNumExperts() {
        return numExperts;
    }

    public void setNumExperts(long numExperts) {
        this.numExperts = numExperts;
    }

    @Override
    public int getHeads() {
        return heads;
    }

    public void setHeads(int heads) {
        this.heads = heads;
    }

    @Override
    public int getTopK() {
        return topK;
    }

    public void setTopK(int topK) {
        this.topK = topK;
    }

    public int getKeySize() {
        return keySize;
    }

    public void setKeySize(int keySize) {
        this.keySize = keySize;
    }

    public int getCandidates() {
        return candidates;
    }

    public void setCandidates(int candidates) {
        this.candidates = candidates;
    }

    public FfnActivation getActivation() {
        return activation;
    }

    public void setActivation(FfnActivation activation) {
        this.activation = activation;
    }

    public QueryNorm getQueryNorm() {
        return queryNorm;
    }

    public void setQueryNorm(QueryNorm queryNorm) {
        this.queryNorm = queryNorm;
    }

    public Gate getGate() {
        return gate;
    }

    public void setGate(Gate gate) {
        this.gate = gate;
    }

    public boolean isSharedKeys() {
        return sharedKeys;
    }

    public void setSharedKeys(boolean sharedKeys) {
        this.sharedKeys = sharedKeys;
    }

    public TableUpdates getTableUpdates() {
        return tableUpdates;
    }

    public void setTableUpdates(TableUpdates tableUpdates) {
        this.tableUpdates = tableUpdates;
    }

    @Override
    public boolean equals(Object o) {
        if (!super.equals(o)) {
            return false;
        }
        PeerLayer that = (PeerLayer) o;
        return numExperts == that.numExperts && heads == that.heads && topK == that.topK && keySize == that.keySize
                && candidates == that.candidates && activation == that.activation && queryNorm == that.queryNorm
                && gate == that.gate && sharedKeys == that.sharedKeys && tableUpdates == that.tableUpdates;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), numExperts, heads, topK, keySize, candidates, activation, queryNorm, gate,
                sharedKeys, tableUpdates);
    }

    /** Builder; nOut defaults to nIn. */
    @SuppressWarnings("unchecked") // DL4J declares Layer.Builder#build() as <E extends Layer> E build()
    public static class Builder extends BaseMoeLayer.Builder<Builder> {
        private long numExperts;
        private int heads = DEFAULT_HEADS;
        private int topK = DEFAULT_TOP_K;
        private int keySize = DEFAULT_KEY_SIZE;
        private int candidates;
        private FfnActivation activation = FfnActivation.GELU;
        private QueryNorm queryNorm = QueryNorm.BATCH;
        private Gate gate = Gate.SOFTMAX;
        private boolean sharedKeys = true;
        private TableUpdates tableUpdates = TableUpdates.SPARSE;

        /** Number of single-neuron experts N, a perfect square (the paper: 1024^2). */
        public Builder numExperts(long numExperts) {
            this.numExperts = numExperts;
            return this;
        }

        /** Retrieval heads h; default 8. */
        public Builder heads(int heads) {
            this.heads = heads;
            return this;
        }

        /** Experts retrieved per head k; default 16. */
        public Builder topK(int topK) {
            this.topK = topK;
            return this;
        }

        /** Query and key size dKey, even; default 128. */
        public Builder keySize(int keySize) {
            this.keySize = keySize;
            return this;
        }

        /** Sub-keys kept per half before combining (at least topK for an exact search); default topK. */
        public Builder candidates(int candidates) {
            this.candidates = candidates;
            return this;
        }

        /** Expert activation, GELU (default) or RELU. */
        public Builder activation(FfnActivation activation) {
            this.activation = activation;
            return this;
        }

        /** Query normalisation; default BATCH (the paper). */
        public Builder queryNorm(QueryNorm queryNorm) {
            this.queryNorm = queryNorm;
            return this;
        }

        /** Gate over each head's k experts; default SOFTMAX (the paper). */
        public Builder gate(Gate gate) {
            this.gate = gate;
            return this;
        }

        /** Whether all heads share the product keys (the paper) or each head has its own; default true. */
        public Builder sharedKeys(boolean sharedKeys) {
            this.sharedKeys = sharedKeys;
            return this;
        }

        /** How the expert tables are updated; default SPARSE. */
        public Builder tableUpdates(TableUpdates tableUpdates) {
            this.tableUpdates = tableUpdates;
            return this;
        }

        @Override
        public PeerLayer build() {
            return new PeerLayer(this);
        }
    }
}
