/**
 * Zoo models built from the dl4j-moe layers, and the data they ship with. Layer configs do not live here
 * ({@code io.github.dl4jmoe.layers}); training programs live in the examples module.
 */
package io.github.dl4jmoe.zoo;
