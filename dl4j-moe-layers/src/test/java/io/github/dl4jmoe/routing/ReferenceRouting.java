package io.github.dl4jmoe.routing;

import java.util.Comparator;
import java.util.stream.IntStream;

/** Plain-Java routing rules, written from the papers, to check the graph versions against. */
public final class ReferenceRouting {

    private ReferenceRouting() {
    }

    /** Expert indices by descending probability, ties to the lower index. */
    static int[] order(double[] p) {
        return IntStream.range(0, p.length).boxed()
                .sorted(Comparator.comparingDouble((Integer i) -> -p[i])).mapToInt(Integer::intValue).toArray();
    }

    /** 0/1 selection of router {@code r} for one token's probabilities {@code p}. */
    public static double[] select(Router r, double[] p) {
        double[] selected = new double[p.length];
        int[] order = order(p);
        if (r instanceof TopKRouter topK) {
            for (int j = 0; j < topK.getK(); j++) {
                selected[order[j]] = 1;
            }
        } else if (r instanceof TopPRouter topP) {
            double cumulative = 0;
            int cap = topP.getMaxExperts() == 0 ? p.length : topP.getMaxExperts();
            for (int j = 0; j < cap; j++) {
                selected[order[j]] = 1;
                cumulative += p[order[j]];
                // first exceeds p ... (>= : the mass ahead of the next is not < p)
                if (cumulative >= topP.getP()) {
                    break;
                }
            }
        } else {
            throw new IllegalArgumentException(r.toString());
        }
        return selected;
    }

    /** Gates for one token: raw probabilities of the selected experts, or renormalised. */
    public static double[] gates(Router r, double[] p) {
        double[] s = select(r, p);
        double[] g = new double[p.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            g[i] = p[i] * s[i];
            sum += g[i];
        }
        if (r.isRenormalize()) {
            for (int i = 0; i < p.length; i++) {
                g[i] /= sum;
            }
        }
        return g;
    }

    /** The authors' rule written out per token: 0/1 over E experts, e = (g_o R_O + r_o) G_I R_I + i. */
    public static double[] fineR(double[] logits, int gO, int rO, int block, int topInput) {
        double[] selected = new double[logits.length];
        for (int go = 0; go < gO; go++) {
            int bestBlock = 0;
            double bestSum = Double.NEGATIVE_INFINITY;
            for (int ro = 0; ro < rO; ro++) {
                double sum = 0;
                for (int i = 0; i < block; i++) {
                    sum += logits[(go * rO + ro) * block + i];
                }
                if (sum > bestSum) {            // strict: ties keep the lower r_o
                    bestSum = sum;
                    bestBlock = ro;
                }
            }
            int base = (go * rO + bestBlock) * block;
            int[] order = IntStream.range(0, block).boxed()
                    .sorted(Comparator.comparingDouble((Integer i) -> -logits[base + i]))
                    .mapToInt(Integer::intValue).toArray();
            for (int j = 0; j < topInput; j++) {
                selected[base + order[j]] = 1;
            }
        }
        return selected;
    }
}
