package io.github.dl4jmoe.peer;

import io.github.dl4jmoe.host.RowSoftmax;

/**
 * PEER's router weights over each query's k retrieved experts (He 2024, eq. 4): a softmax over the k selected scores
 * (the paper) or a sigmoid of each, with the backward pass. Scores and gates are flat, {@code [queries * k]}.
 */
final class PeerGates {

    private final int topK;
    private final boolean sigmoid;

    PeerGates(int topK, boolean sigmoid) {
        this.topK = topK;
        this.sigmoid = sigmoid;
    }

    /** Gates from the selected scores, {@code k} consecutive per query. */
    double[] forward(double[] scores) {
        if (!sigmoid) {
            return RowSoftmax.of(scores, topK);
        }
        double[] gates = new double[scores.length];
        for (int p = 0; p < scores.length; p++) {
            gates[p] = 1 / (1 + Math.exp(-scores[p]));
        }
        return gates;
    }

    /** dL/dscore from dL/dgate: {@code g (dg - sum g dg)} for softmax, {@code dg g (1 - g)} for sigmoid. */
    double[] backward(double[] gates, double[] gateGrads) {
        double[] out = new double[gates.length];
        for (int from = 0; from < gates.length; from += topK) {
            double dot = 0;
            for (int p = from; p < from + topK; p++) {
                dot += gates[p] * gateGrads[p];
            }
            for (int p = from; p < from + topK; p++) {
                out[p] = sigmoid ? gateGrads[p] * gates[p] * (1 - gates[p]) : gates[p] * (gateGrads[p] - dot);
            }
        }
        return out;
    }
}
