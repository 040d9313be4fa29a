/**
 * What keeps a training run's files safe: atomic file writes, per-step checkpoint names and their pruning, the
 * training state a checkpoint holds for an exact resume, and the stop on a diverged loss. The model itself and its
 * zip layout live in {@code io.github.dl4jmoe.zoo.CharLanguageModel}; the training loop lives in the examples.
 */
package io.github.dl4jmoe.zoo.checkpoint;
