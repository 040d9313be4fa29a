package io.github.dl4jmoe.ops;

import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ops.CustomOpDescriptor;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Differentiable row lookup: {@code out[i..., :] = table[indices[i...], :]}.
 *
 * <p>Runs the native {@code gather} kernel (axis 0). Its gradient scatters the incoming gradient back into the
 * table with an unsorted segment sum, so repeated indices accumulate. M2.1's own {@code gather} backprop is a serial
 * loop of assignments that fails as soon as a graph holds two gathers, and {@code gatherNd}/{@code embeddingLookup}
 * have none.
 *
 * <p>SameDiff builds its gradient graph on a clone made through FlatBuffers, which re-creates every op from the class
 * registered for its name. {@link Op} therefore has a name of its own, runs under the native gather's hash and
 * descriptor, exposes no properties, and is registered for cloning by {@link CloneRegistry}.
 */
public final class RowLookup {

    /** Name under which the op is serialized and re-created when SameDiff clones a graph. */
    public static final String OP_NAME = "dl4jmoe_row_lookup";
    private static final String NATIVE_OP = "gather";
    private static final int ROW_AXIS = 0;

    static {
        CloneRegistry.register(OP_NAME, Op.class);
    }

    private RowLookup() {
    }

    /**
     * @param table   {@code [rows, width]}: rank 2 with a width known when the graph is defined; the number of rows
     *                may be dynamic (-1)
     * @param indices integer indices of any shape {@code [i...]}, each in {@code [0, rows)}
     * @return {@code [i..., width]}
     */
    public static SDVariable lookup(SameDiff sd, SDVariable table, SDVariable indices) {
        long[] shape = table.getShape();
        if (shape == null || shape.length != 2 || shape[1] < 1) {
            throw new IllegalArgumentException("RowLookup: the table must be rank 2 with a known width, [rows, width], "
                    + "got " + (shape == null ? "unknown shape" : java.util.Arrays.toString(shape))
                    + " for '" + table.name() + "'");
        }
        if (!indices.dataType().isIntType()) {
            throw new IllegalArgumentException("RowLookup: indices must be an integer type, got " + indices.dataType()
                    + " for '" + indices.name() + "'");
        }
        return new Op(sd, table, indices).outputVariable();
    }

    /** Native gather on axis 0 with a scatter-add gradient. */
    public static final class Op extends DynamicCustomOp {

        /** For reflection (graph cloning). */
        public Op() {
        }

        Op(SameDiff sd, SDVariable table, SDVariable indices) {
            super(null, sd, new SDVariable[] {table, indices}, false);
            addIArgument(ROW_AXIS);
        }

        @Override
        public String opName() {
            return OP_NAME;
        }

        @Override
        public long opHash() {
            return getDescriptor().getHash();
        }

        @Override
        public CustomOpDescriptor getDescriptor() {
            return Nd4j.getExecutioner().getCustomOperations().get(NATIVE_OP);
        }

        @Override
        public int getNumOutputs() {
            return 1;
        }

        @Override
        public Map<String, Object> propertiesForFunction() {
            return Collections.emptyMap();
        }

        @Override
        public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
            return Collections.singletonList(dataTypes.get(0));
        }

        /** dL/dtable = segment sum of dL/dout rows over the looked-up indices; indices get no gradient. */
        @Override
        public List<SDVariable> doDiff(List<SDVariable> gradients) {
            SDVariable table = arg(0);
            SDVariable indices = arg(1);
            long[] tableShape = table.getShape();
            long rows = tableShape[0];
            long width = tableShape[1];
            if (rows > Integer.MAX_VALUE) {
                throw new IllegalStateException("RowLookup: table '" + table.name() + "' has " + rows
                        + " rows; the segment-sum gradient supports at most " + Integer.MAX_VALUE);
            }
            SDVariable gradRows = sameDiff.reshape(gradients.get(0), -1, width);
            SDVariable flatIndices = sameDiff.reshape(indices, -1);
            SDVariable tableGrad = rows > 0
                    ? sameDiff.unsortedSegmentSum(gradRows, flatIndices, (int) rows)
                    : sameDiff.unsortedSegmentSum(gradRows, flatIndices,
                            sameDiff.sizeAt(table, 0).castTo(DataType.INT32));
            return List.of(tableGrad, sameDiff.zerosLike(indices));
        }
    }
}
