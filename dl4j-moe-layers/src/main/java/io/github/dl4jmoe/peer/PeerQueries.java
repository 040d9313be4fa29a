package io.github.dl4jmoe.peer;

import java.util.stream.IntStream;

import io.github.dl4jmoe.host.HostArrays;
import io.github.dl4jmoe.host.HostContext;
import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.ScratchArrays;
import io.github.dl4jmoe.host.ThreadedGemm;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * PEER's query network and half scores, forward and backward:
 * <pre>
 *   q = norm(x W_q)                  [n, h*dKey], per head [q1 | q2]
 *   s1 = q1 C1^T, s2 = q2 C2^T       [n*h, sqrt N], row t*h + head
 * </pre>
 * The matrix products are ND4J calls in the network's data type, into arrays reused from pass to pass
 * ({@link ScratchArrays}); the normalisation runs in Java in double precision.
 * The backward pass starts from the gradients of the k selected scores per query row: a selected score
 * {@code q1 . C1[i] + q2 . C2[j]} sends its gradient to the query halves and to the two sub-key rows it used. With
 * few sub-keys per selected score ({@link PeerPath}) these are two products per half through the dense score
 * gradient {@code [n*h, key rows]}; with many, a loop over the selected scores that never forms it.
 *
 * <p>This part used to be a SameDiff graph, where M2.1's broadcast backward ops of batch normalisation made it a
 * third of a PEER training step (README, Performance).
 */
final class PeerQueries {

    private final int heads;
    private final int keySize;
    private final int subKeys;
    private final int topK;
    private final boolean sharedKeys;
    private final QueryNormalization norm;
    private final ScratchArrays scratch = new ScratchArrays();

    PeerQueries(int heads, int keySize, int subKeys, int topK, boolean sharedKeys, QueryNormalization norm) {
        this.heads = heads;
        this.keySize = keySize;
        this.subKeys = subKeys;
        this.topK = topK;
        this.sharedKeys = sharedKeys;
        this.norm = norm;
    }

    /**
     * One forward pass.
     *
     * @param q       normalised queries {@code [n, h*dKey]} row-major
     * @param scores1 half scores {@code [n*h, sqrt N]}, valid until the next pass
     * @param stats   the normalisation's statistics (null for NONE)
     */
    record Forward(INDArray x, double[] q, INDArray scores1, INDArray scores2, Statistics stats) {
    }

    /**
     * Mean and {@code 1/sqrt(var + eps)} per group of elements normalised together (BATCH: a column; LAYER: one
     * head's query); {@code fromBatch} when they were computed from this pass (so they depend on it).
     */
    record Statistics(double[] mean, double[] var, double[] invStd, boolean fromBatch) {
    }

    Forward forward(HostContext ctx, INDArray x) {
        INDArray w = ctx.param(PeerKeys.W_QUERY);
        int width = (int) w.size(1);
        INDArray raw = scratch.get("raw", x.dataType(), x.size(0), width);
        double[] q = HostArrays.toDoubles(ThreadedGemm.gemm(x, w, raw, false, false, 1.0, 0.0));   // [n, h*dKey]
        Statistics stats = null;
        if (norm == QueryNormalization.LAYER || (norm == QueryNormalization.BATCH && ctx.training())) {
            stats = statistics(q, width);
        } else if (norm == QueryNormalization.BATCH) {
            double[] var = HostArrays.toDoubles(ctx.param(PeerKeys.RUNNING_VAR));
            stats = new Statistics(HostArrays.toDoubles(ctx.param(PeerKeys.RUNNING_MEAN)), var, inverseStd(var),
                    false);
        }
        if (stats != null) {
            normalise(q, stats, width);
        }
        return new Forward(x, q, halfScores(ctx, q, 0, x.dataType()), halfScores(ctx, q, 1, x.dataType()), stats);
    }

    /**
     * Backward pass of {@link #forward}: writes the gradients of W_q and both sub-key sets, updates BATCH's running
     * statistics (when they came from the batch) and returns this path's share of dL/dx, {@code [n, d]}, valid until
     * the next pass.
     *
     * @param experts    retrieved key index of each selected score, {@code [n*h*k]}
     * @param scoreGrads dL/dscore of each selected score, {@code [n*h*k]}
     */
    INDArray backward(HostContext ctx, Forward f, int[] experts, double[] scoreGrads) {
        INDArray w = ctx.param(PeerKeys.W_QUERY);
        int width = (int) w.size(1);
        double[] dq = keyBackward(ctx, experts, scoreGrads, f.q());
        if (f.stats() != null) {
            dq = normBackward(dq, f.q(), f.stats(), width);
        }
        if (norm == QueryNormalization.BATCH && f.stats().fromBatch()) {
            updateRunning(ctx.param(PeerKeys.RUNNING_MEAN), f.stats().mean());
            updateRunning(ctx.param(PeerKeys.RUNNING_VAR), f.stats().var());
        }
        INDArray dRaw = HostArrays.copyInto(dq, scratch.get("dRaw", w.dataType(), f.x().size(0), width));
        ctx.gradient(PeerKeys.W_QUERY).assign(ThreadedGemm.gemm(f.x(), dRaw, scratch.get("dW", w.dataType(), w.shape()),
                true, false, 1.0, 0.0));
        return ThreadedGemm.gemm(dRaw, w, scratch.get("dx", w.dataType(), f.x().shape()), false, true, 1.0, 0.0);
    }

    /**
     * The query matrix seen as row-major {@code [rows, cols]} so that the groups normalised together are its columns
     * (BATCH: one per query feature, over the tokens) or its rows (LAYER: one per token and head, over dKey).
     */
    private record Layout(int rows, int cols, boolean byColumn) {
        int groups() {
            return byColumn ? cols : rows;
        }
    }

    private Layout layout(int length, int width) {
        return norm == QueryNormalization.BATCH ? new Layout(length / width, width, true)
                : new Layout(length / keySize, keySize, false);
    }

    /** Mean and biased variance of each group. */
    private Statistics statistics(double[] raw, int width) {
        Layout l = layout(raw.length, width);
        double[] mean = groupMeans(raw, null, l);
        double[] var = new double[mean.length];
        for (int r = 0; r < l.rows(); r++) {
            int at = r * l.cols();
            if (l.byColumn()) {                                       // split so that the column loop vectorises
                for (int c = 0; c < l.cols(); c++) {
                    double centred = raw[at + c] - mean[c];
                    var[c] += centred * centred;
                }
            } else {
                for (int c = 0; c < l.cols(); c++) {
                    double centred = raw[at + c] - mean[r];
                    var[r] += centred * centred;
                }
            }
        }
        double perGroup = (double) raw.length / l.groups();
        for (int g = 0; g < var.length; g++) {
            var[g] /= perGroup;
        }
        return new Statistics(mean, var, inverseStd(var), true);
    }

    /** {@code (q - mean) * invStd} per group, in place. */
    private void normalise(double[] q, Statistics stats, int width) {
        Layout l = layout(q.length, width);
        for (int r = 0; r < l.rows(); r++) {
            int at = r * l.cols();
            if (l.byColumn()) {                                       // split so that the column loop vectorises
                for (int c = 0; c < l.cols(); c++) {
                    q[at + c] = (q[at + c] - stats.mean()[c]) * stats.invStd()[c];
                }
            } else {
                for (int c = 0; c < l.cols(); c++) {
                    q[at + c] = (q[at + c] - stats.mean()[r]) * stats.invStd()[r];
                }
            }
        }
    }

    /** Per group, the mean of {@code a} (or of {@code a * b} when b is given). */
    private static double[] groupMeans(double[] a, double[] b, Layout l) {
        double[] sums = new double[l.groups()];
        for (int r = 0; r < l.rows(); r++) {
            int at = r * l.cols();
            if (l.byColumn() && b == null) {
                for (int c = 0; c < l.cols(); c++) {
                    sums[c] += a[at + c];
                }
            } else if (l.byColumn()) {
                for (int c = 0; c < l.cols(); c++) {
                    sums[c] += a[at + c] * b[at + c];
                }
            } else {
                for (int c = 0; c < l.cols(); c++) {
                    sums[r] += b == null ? a[at + c] : a[at + c] * b[at + c];
                }
            }
        }
        double perGroup = (double) a.length / l.groups();
        for (int g = 0; g < sums.length; g++) {
            sums[g] /= perGroup;
        }
        return sums;
    }

    /**
     * Gradient through {@code y = (z - mean) * invStd}: with batch statistics
     * {@code dz = invStd (dy - mean(dy) - y mean(dy y))} per group, with fixed ones {@code dz = invStd dy}.
     */
    private double[] normBackward(double[] dy, double[] y, Statistics stats, int width) {
        Layout l = layout(dy.length, width);
        double[] meanDy = stats.fromBatch() ? groupMeans(dy, null, l) : new double[l.groups()];
        double[] meanDyY = stats.fromBatch() ? groupMeans(dy, y, l) : new double[l.groups()];
        double[] invStd = stats.invStd();
        double[] dz = new double[dy.length];
        for (int r = 0; r < l.rows(); r++) {
            int at = r * l.cols();
            if (l.byColumn()) {
                for (int c = 0; c < l.cols(); c++) {
                    dz[at + c] = invStd[c] * (dy[at + c] - meanDy[c] - y[at + c] * meanDyY[c]);
                }
            } else {
                for (int c = 0; c < l.cols(); c++) {
                    dz[at + c] = invStd[r] * (dy[at + c] - meanDy[r] - y[at + c] * meanDyY[r]);
                }
            }
        }
        return dz;
    }

    private static double[] inverseStd(double[] var) {
        double[] out = new double[var.length];
        for (int g = 0; g < var.length; g++) {
            out[g] = 1 / Math.sqrt(var[g] + PeerKeys.NORM_EPSILON);
        }
        return out;
    }

    private static void updateRunning(INDArray running, double[] batch) {
        INDArray value = HostArrays.fromDoubles(batch, running.dataType(), running.shape());
        running.muli(PeerKeys.BATCH_NORM_DECAY).addi(value.muli(1 - PeerKeys.BATCH_NORM_DECAY));
    }

    /**
     * The half scores of half {@code s} (0: q1 . C1, 1: q2 . C2), {@code [n*h, sqrt N]} with row t*h + head: one
     * product with shared keys, else one batched product over the heads' grouped query rows ({@link #groupRow}),
     * reordered into query rows. The query halves are copied out contiguously first: a product with a strided view of q
     * took several times longer.
     */
    private INDArray halfScores(HostContext ctx, double[] q, int s, DataType type) {
        int rows = q.length / keySize;                                                   // n*h
        INDArray out = scratch.get("scores" + s, type, rows, subKeys);
        if (sharedKeys) {
            INDArray keys = groupedKeys(ctx, s, type).reshape(subKeys, keySize / 2);
            return ThreadedGemm.gemm(groupedQueries(q, s, type).reshape(rows, keySize / 2), keys, out, false, true,
                    1.0, 0.0);
        }
        int groupRows = rows / heads;
        INDArray grouped = ThreadedGemm.batched(groupedQueries(q, s, type), groupedKeys(ctx, s, type),
                scratch.get("groupedScores" + s, type, heads, groupRows, subKeys), false, true);
        out.reshape(groupRows, heads, subKeys).assign(grouped.permute(1, 0, 2));
        return out;
    }

    /** Query half {@code s} of every query row, grouped as {@link #groupRow} says: {@code [groups, rows, dKey/2]}. */
    private INDArray groupedQueries(double[] q, int s, DataType type) {
        int half = keySize / 2;
        int rows = q.length / keySize;
        int groups = sharedKeys ? 1 : heads;
        double[] grouped = new double[rows * half];
        for (int row = 0; row < rows; row++) {
            System.arraycopy(q, row * keySize + s * half, grouped, groupRow(row, rows / groups) * half, half);
        }
        return HostArrays.copyInto(grouped, scratch.get("groupedQueries" + s, type, groups, rows / groups, half));
    }

    /**
     * Sub-key set {@code s} as {@code [groups, sqrt N, dKey/2]}: a copy, since on M2.1 {@code get()} of a row interval
     * past the first of a parameter view returned a rank-0 array (the view's buffer is a sub-buffer, yet {@code get()}
     * adds the view's offset again).
     */
    private INDArray groupedKeys(HostContext ctx, int s, DataType type) {
        INDArray param = ctx.param(s == 0 ? PeerKeys.SUB_KEYS_1 : PeerKeys.SUB_KEYS_2);
        return HostArrays.copyInto(HostArrays.toDoubles(param),
                scratch.get("keys" + s, type, sharedKeys ? 1 : heads, subKeys, keySize / 2));
    }

    /** Where query row {@code row} (token h + head) lies in the rows grouped by sub-key set: group-major. */
    private int groupRow(int row, int groupRows) {
        return sharedKeys ? row : (row % heads) * groupRows + row / heads;
    }

    /**
     * Gradients of the selected scores {@code q1[row] . C1[i] + q2[row] . C2[j]}: returns dL/dq ({@code [n*h, dKey]}
     * row-major) and writes dL/dC1, dL/dC2.
     */
    private double[] keyBackward(HostContext ctx, int[] experts, double[] scoreGrads, double[] q) {
        long keyRows = ctx.param(PeerKeys.SUB_KEYS_1).size(0);
        return PeerPath.current().denseKeys(keyRows, topK) ? denseKeyBackward(ctx, experts, scoreGrads, q)
                : sparseKeyBackward(ctx, experts, scoreGrads, q);
    }

    /**
     * {@link #keyBackward} through the dense score gradients, per group of query rows that share one sub-key set (one
     * group with shared keys, else one per head): {@code dS_s [groups, group rows, sqrt N]} holds the gradient of each
     * selected score at the sub-key of half s it used, so {@code dL/dq_s = dS_s C_s} and {@code dL/dC_s = dS_s^T q_s},
     * one batched product each ({@link ThreadedGemm#batched}, a slice per group) in the network's data type. Per head
     * the score gradients are {@code sqrt N} wide, not {@code heads * sqrt N} with zeros outside the row's head.
     */
    private double[] denseKeyBackward(HostContext ctx, int[] experts, double[] scoreGrads, double[] q) {
        int half = keySize / 2;
        int rows = experts.length / topK;                                            // query row = token h + head
        int groups = sharedKeys ? 1 : heads;
        int groupRows = rows / groups;
        String[] names = {PeerKeys.SUB_KEYS_1, PeerKeys.SUB_KEYS_2};
        double[][] dScores = {new double[rows * subKeys], new double[rows * subKeys]};
        for (int row = 0; row < rows; row++) {
            int offset = groupRow(row, groupRows) * subKeys;
            for (int p = row * topK; p < (row + 1) * topK; p++) {
                int i = experts[p] / subKeys;
                dScores[0][offset + i] += scoreGrads[p];
                dScores[1][offset + experts[p] - i * subKeys] += scoreGrads[p];
            }
        }
        double[] queryGrads = new double[q.length];
        for (int s = 0; s < 2; s++) {
            DataType type = ctx.param(names[s]).dataType();
            INDArray dS = HostArrays.copyInto(dScores[s], scratch.get("dScores" + s, type, groups, groupRows,
                    subKeys));
            INDArray dKeys = ThreadedGemm.batched(dS, groupedQueries(q, s, type),
                    scratch.get("dKeys" + s, type, groups, subKeys, half), true, false);
            ctx.gradient(names[s]).assign(dKeys.reshape(groups * subKeys, half));
            double[] dq = HostArrays.toDoubles(ThreadedGemm.batched(dS, groupedKeys(ctx, s, type),
                    scratch.get("dQueries" + s, type, groups, groupRows, half), false, false));
            for (int row = 0; row < rows; row++) {
                System.arraycopy(dq, groupRow(row, groupRows) * half, queryGrads, row * keySize + s * half, half);
            }
        }
        return queryGrads;
    }

    /**
     * {@link #keyBackward} by a loop over the selected scores, sending each one's gradient to its query row and its
     * two sub-key rows. {@link Parallelism#threads()} threads over disjoint query rows, each with its own key
     * gradients.
     */
    private double[] sparseKeyBackward(HostContext ctx, int[] experts, double[] scoreGrads, double[] q) {
        int half = keySize / 2;
        double[] keys1 = HostArrays.toDoubles(ctx.param(PeerKeys.SUB_KEYS_1));
        double[] keys2 = HostArrays.toDoubles(ctx.param(PeerKeys.SUB_KEYS_2));
        double[] queryGrads = new double[q.length];
        int rows = experts.length / topK;
        int threads = Parallelism.threads();
        double[][][] keyGrads = new double[threads][][];
        IntStream.range(0, threads).parallel().forEach(part -> {
            double[] grads1 = new double[keys1.length];
            double[] grads2 = new double[keys2.length];
            int end = Parallelism.bound(rows, part + 1, threads);
            for (int row = Parallelism.bound(rows, part, threads); row < end; row++) {  // query row = token h + head
                int offset = sharedKeys ? 0 : (row % heads) * subKeys;
                for (int p = row * topK; p < (row + 1) * topK; p++) {
                    int key1 = (offset + experts[p] / subKeys) * half;
                    int key2 = (offset + experts[p] % subKeys) * half;
                    double grad = scoreGrads[p];
                    for (int c = 0; c < half; c++) {
                        queryGrads[row * keySize + c] += grad * keys1[key1 + c];
                        queryGrads[row * keySize + half + c] += grad * keys2[key2 + c];
                        grads1[key1 + c] += grad * q[row * keySize + c];
                        grads2[key2 + c] += grad * q[row * keySize + half + c];
                    }
                }
            }
            keyGrads[part] = new double[][] {grads1, grads2};
        });
        String[] names = {PeerKeys.SUB_KEYS_1, PeerKeys.SUB_KEYS_2};
        for (int s = 0; s < 2; s++) {
            double[] sum = keyGrads[0][s];
            for (int part = 1; part < threads; part++) {
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += keyGrads[part][s][i];
                }
            }
            INDArray param = ctx.param(names[s]);
            ctx.gradient(names[s]).assign(HostArrays.fromDoubles(sum, param.dataType(), param.shape()));
        }
        return queryGrads;
    }
}
