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
                if (cumulative >= topP.getP()) {       // first exceeds p ... (>= : the mass ahead of the next is not < p)
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
}
