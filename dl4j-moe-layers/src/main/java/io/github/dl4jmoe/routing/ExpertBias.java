package io.github.dl4jmoe.routing;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * Auxiliary-loss-free load balancing (Wang et al. 2024, arXiv 2408.15664, Algorithm 1; DeepSeek-V3, arXiv 2412.19437,
 * section 2.1.2; Megatron-Core's {@code moe_router_enable_expert_bias} and {@code get_updated_expert_bias}): a
 * per-expert bias b, {@code [1, E]}, is added to the scores a routing rule selects by, never to the gates
 * (DeepSeek-V3: {@code g'_i = s_i if s_i + b_i is among the top-k of s_j + b_j}), and after every training step
 * <pre>
 *   b_e += rate * sign(mean_load - load_e)        load_e: tokens that selected expert e in the step
 * </pre>
 * so an overloaded expert becomes less likely to be chosen and an underloaded one more likely, with no gradient
 * through the task loss. DeepSeek-V3 and Megatron use rate (gamma, "bias update speed") =
 * {@value #DEFAULT_UPDATE_RATE}. The load counts the tokens that selected an expert, before any capacity drop (the
 * demand the bias corrects).
 *
 * <p>How the step is applied: the bias is a state parameter of the layer whose updater is {@link ExpertBiasStep}, and
 * each backward pass writes {@link #signal} into the bias's gradient slot. DL4J's own parameter step then applies
 * {@code b -= rate * sign(signal)}, which is the rule above. That is the mechanism of DL4J's BatchNormalization
 * running statistics (a pseudo-gradient under their own updater), and it makes the update happen exactly once per
 * {@code fit} step, after the gradients and before the listeners (checkpoints see it), and never in inference, in
 * {@code computeGradientAndScore} alone or in a gradient check (which applies no step; exclude the bias there, as
 * DL4J's tests exclude BatchNormalization's running statistics).
 */
public final class ExpertBias {

    /** The bias update speed of DeepSeek-V3 and Megatron-Core's default. */
    public static final double DEFAULT_UPDATE_RATE = 1e-3;
    /**
     * Magnitude of the signal written where the bias's gradient goes. Only its sign matters to
     * {@link ExpertBiasStep}; it is small so that gradient normalisation of the layer (clipping by the layer's L2 norm,
     * say) never notices it, and large enough to survive minibatch division and clipping in float.
     */
    public static final double SIGNAL = 1e-6;

    private ExpertBias() {
    }

    /**
     * The step signal in the graph: {@code SIGNAL * sign(load_e - mean_load)}, {@code [1, E]}.
     *
     * @param load tokens that selected each expert in the pass, {@code [E]}
     */
    public static SDVariable signal(SameDiff sd, SDVariable load, long numExperts) {
        return sd.math.sign(load.sub(load.mean())).mul(SIGNAL).reshape(1, numExperts);
    }

    /**
     * The step signal on the host, as {@link #signal(SameDiff, SDVariable, long)}.
     *
     * @param selected the 0/1 selection, row-major {@code [n, E]}
     * @return {@code [E]}
     */
    public static double[] signal(double[] selected, int numExperts) {
        double[] load = new double[numExperts];
        double total = 0;
        for (int i = 0; i < selected.length; i++) {
            load[i % numExperts] += selected[i];
            total += selected[i];
        }
        double mean = total / numExperts;
        double[] signal = new double[numExperts];
        for (int e = 0; e < numExperts; e++) {
            signal[e] = Math.signum(load[e] - mean) * SIGNAL;
        }
        return signal;
    }

    /** {@code scores + bias} with {@code bias [E]} added to every row of the row-major {@code scores [n, E]}. */
    static double[] add(double[] scores, double[] bias) {
        double[] biased = new double[scores.length];
        for (int i = 0; i < scores.length; i++) {
            biased[i] = scores[i] + bias[i % bias.length];
        }
        return biased;
    }
}
