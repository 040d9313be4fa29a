package io.github.dl4jmoe.routing;

import java.io.Serializable;

import io.github.dl4jmoe.host.RowSoftmax;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.shade.jackson.annotation.JsonTypeInfo;

/**
 * A routing rule: from router logits to the experts each token uses and their gates. Part of a layer's JSON
 * configuration (serialized with its class name, like DL4J's own polymorphic configs).
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.CLASS, include = JsonTypeInfo.As.PROPERTY, property = "@class")
public abstract class Router implements Serializable {

    protected boolean renormalize;

    /**
     * @param logits     router logits {@code [n, E]}
     * @param numExperts E
     */
    public Routing route(SameDiff sd, SDVariable logits, long numExperts) {
        return route(sd, logits, null, numExperts);
    }

    /**
     * Routing with an expert bias ({@link ExpertBias}): the bias moves the selection only; the probabilities and the
     * gates are those of the unbiased logits.
     *
     * @param logits     router logits {@code [n, E]}
     * @param bias       expert bias {@code [1, E]}, carrying no gradient, or null for none
     * @param numExperts E
     */
    public Routing route(SameDiff sd, SDVariable logits, SDVariable bias, long numExperts) {
        SDVariable probabilities = sd.nn.softmax(logits, 1);                      // [n, E]
        SDVariable selected = bias == null ? select(sd, logits, probabilities, numExperts)      // [n, E], 0/1
                : select(sd, logits, probabilities, bias, numExperts);
        SDVariable gates = probabilities.mul(selected);
        if (renormalize) {
            gates = gates.div(gates.sum(true, 1));
        }
        return new Routing(probabilities, selected, gates);
    }

    /**
     * The 0/1 selection mask {@code [n, E]}; must carry no gradient.
     *
     * @param logits        router logits {@code [n, E]}
     * @param probabilities {@code softmax(logits)}, {@code [n, E]}
     */
    protected abstract SDVariable select(SameDiff sd, SDVariable logits, SDVariable probabilities, long numExperts);

    /**
     * The 0/1 selection mask {@code [n, E]} with the expert bias added to the scores this rule ranks (DeepSeek-V3,
     * section 2.1.2: expert i is chosen by {@code s_i + b_i}, gated by {@code s_i}); must carry no gradient. This
     * default applies the rule to the biased logits {@code logits + bias} and their softmax, which is right for a rule
     * that ranks logits; the built-in rules say what they rank.
     *
     * @param bias {@code [1, E]}
     */
    protected SDVariable select(SameDiff sd, SDVariable logits, SDVariable probabilities, SDVariable bias,
                                long numExperts) {
        SDVariable biased = logits.add(bias);
        return select(sd, biased, sd.nn.softmax(biased, 1), numExperts);
    }

    /**
     * The biased selection on arrays, for the eager path: the same 0/1 mask as
     * {@link #select(SameDiff, SDVariable, SDVariable, SDVariable, long)}, row-major {@code [n, E]}.
     *
     * @param bias {@code [E]}, or null for none
     */
    public double[] select(double[] logits, double[] probabilities, double[] bias, int numExperts) {
        if (bias == null) {
            return select(logits, probabilities, numExperts);
        }
        double[] biased = ExpertBias.add(logits, bias);
        return select(biased, RowSoftmax.of(biased, numExperts), numExperts);
    }

    /**
     * The selection on arrays, for the eager path: the same 0/1 mask as {@link #select(SameDiff, SDVariable,
     * SDVariable, long)}, row-major {@code [n, E]}. This default evaluates that graph on constants, so a router that
     * defines only its graph still works eagerly; the built-in rules compute it directly.
     *
     * @param logits        router logits, row-major {@code [n, E]}
     * @param probabilities {@code softmax(logits)} per row
     */
    public double[] select(double[] logits, double[] probabilities, int numExperts) {
        int n = logits.length / numExperts;
        SameDiff sd = SameDiff.create();
        SDVariable l = sd.constant(Nd4j.createFromArray(logits).reshape(n, numExperts));
        SDVariable p = sd.constant(Nd4j.createFromArray(probabilities).reshape(n, numExperts));
        return select(sd, l, p, numExperts).eval().castTo(DataType.DOUBLE).data().asDouble();
    }

    /**
     * Gates from probabilities and the selection, row-major {@code [n, E]}: {@code P * selected}, divided by their
     * row sum when renormalising (as {@link #route} computes them).
     */
    public double[] gates(double[] probabilities, double[] selected, int numExperts) {
        double[] gates = new double[probabilities.length];
        for (int row = 0; row < probabilities.length; row += numExperts) {
            double sum = 0;
            for (int e = row; e < row + numExperts; e++) {
                gates[e] = probabilities[e] * selected[e];
                sum += gates[e];
            }
            if (renormalize) {
                for (int e = row; e < row + numExperts; e++) {
                    gates[e] /= sum;
                }
            }
        }
        return gates;
    }

    /**
     * The {@code limit} best of the indices {@code [0, count)} of {@code values[from ..]}, best first, ties to the
     * lower index: the order of {@code TopK} in the graph. Insertion into a sorted prefix, O(count * limit): routers
     * keep a few of tens of experts per token, where a full sort of boxed indices was a tenth of a MoE layer's step.
     */
    protected static int[] best(double[] values, int from, int count, int limit) {
        int[] order = new int[limit];
        int size = 0;
        for (int i = 0; i < count; i++) {
            double v = values[from + i];
            if (size == limit && !(v > values[from + order[limit - 1]])) {
                continue;                                  // equal to the worst kept: that one has the lower index
            }
            int at = size == limit ? limit - 1 : size++;
            while (at > 0 && v > values[from + order[at - 1]]) {
                order[at] = order[at - 1];
                at--;
            }
            order[at] = i;
        }
        return order;
    }

    /**
     * Throws a {@link DL4JInvalidConfigException} whose message starts with {@code layer} and names the field, the
     * value and the fix, unless this rule fits a layer with {@code numExperts} experts.
     */
    public abstract void validate(String layer, long numExperts);

    /** Whether the number of experts per token varies (top-p); the dynamic entropy loss applies only then. */
    public abstract boolean isDynamic();

    /** Whether gates are divided by their sum over the selected experts (they sum to 1 then). */
    public boolean isRenormalize() {
        return renormalize;
    }

    public void setRenormalize(boolean renormalize) {
        this.renormalize = renormalize;
    }

    protected static DL4JInvalidConfigException invalid(String layer, String field, Object value, String requirement,
                                                        String fix) {
        return BaseMoeLayer.invalid(layer, field, value, requirement, fix);
    }
}
