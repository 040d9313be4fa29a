package io.github.dl4jmoe.routing;

import org.nd4j.autodiff.samediff.SDVariable;

/**
 * A routing decision for n tokens over E experts.
 *
 * @param probabilities router probabilities {@code P = softmax(logits)}, {@code [n, E]}
 * @param selected      0/1 mask of the experts each token uses, {@code [n, E]}; carries no gradient
 * @param gates         weight of each expert's output, {@code [n, E]}, zero where not selected; differentiable
 */
public record Routing(SDVariable probabilities, SDVariable selected, SDVariable gates) {
}
