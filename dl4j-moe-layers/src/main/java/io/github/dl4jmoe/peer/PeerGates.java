package io.github.dl4jmoe.peer;

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

    /** Gates from the selected scores, which come sorted best first per query. */
    double[] forward(double[] scores) {
        double[] gates = new double[scores.length];
        for (int from = 0; from < scores.length; from += topK) {
            if (sigmoid) {
                for (int p = from; p < from + topK; p++) {
                    gates[p] = 1 / (1 + Math.exp(-scores[p]));
                }
                continue;
            }
            double max = scores[from];
            double sum = 0;
            for (int p = from; p < from + topK; p++) {
                gates[p] = Math.exp(scores[p] - max);
                sum += gates[p];
            }
            for (int p = from; p < from + topK; p++) {
                gates[p] /= sum;
            }
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
