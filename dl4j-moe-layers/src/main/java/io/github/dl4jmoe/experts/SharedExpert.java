package io.github.dl4jmoe.experts;

import io.github.dl4jmoe.ops.HiddenActivation;
import io.github.dl4jmoe.runtime.LayerGraph;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDVariable;

/**
 * Always-on shared experts (DeepSeekMoE, Qwen-MoE): a bias-free feed-forward block on every token, optionally scaled
 * per token by {@code sigmoid(x w_mix)} as in Qwen2-MoE. s shared experts of hidden width h are one block of width
 * s * h (the sum of their outputs is that block's output).
 */
public final class SharedExpert {

    public static final String W_UP = "wSharedUp";
    public static final String W_GATE = "wSharedGate";
    public static final String W_DOWN = "wSharedDown";
    public static final String W_MIX = "wSharedMix";

    private SharedExpert() {
    }

    /** Declares the parameters of a shared block of width {@code hidden}. */
    public static void define(SDLayerParams params, long nIn, long hidden, long nOut, HiddenActivation activation,
                              boolean sigmoidGate) {
        params.addWeightParam(W_UP, nIn, hidden);
        if (activation.isGated()) {
            params.addWeightParam(W_GATE, nIn, hidden);
        }
        params.addWeightParam(W_DOWN, hidden, nOut);
        if (sigmoidGate) {
            params.addWeightParam(W_MIX, nIn, 1);
        }
    }

    /**
     * @param x {@code [n, nIn]}
     * @return {@code [n, nOut]}
     */
    public static SDVariable apply(LayerGraph g, SDVariable x, HiddenActivation activation, boolean sigmoidGate) {
        SDVariable up = x.mmul(g.param(W_UP));
        SDVariable gate = activation.isGated() ? x.mmul(g.param(W_GATE)) : null;
        SDVariable out = activation.apply(g.sd(), up, gate).mmul(g.param(W_DOWN));
        return sigmoidGate ? out.mul(g.sd().nn.sigmoid(x.mmul(g.param(W_MIX)))) : out;
    }
}
