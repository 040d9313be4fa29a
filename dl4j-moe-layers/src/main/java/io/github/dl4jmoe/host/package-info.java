/**
 * Java code that computes a layer's output outside the SameDiff graph: the contract
 * ({@link io.github.dl4jmoe.host.HostFunction}, {@link io.github.dl4jmoe.host.HostResult} with typed saved state,
 * {@link io.github.dl4jmoe.host.HostContext}), and the helpers such code shares: conversions between ND4J arrays and
 * Java arrays ({@link io.github.dl4jmoe.host.HostArrays}), temporaries reused from pass to pass
 * ({@link io.github.dl4jmoe.host.ScratchArrays}), raw row copies ({@link io.github.dl4jmoe.host.RowBuffer}) and the
 * one thread-count setting ({@link io.github.dl4jmoe.host.Parallelism}). No layer or technique lives here.
 */
package io.github.dl4jmoe.host;
