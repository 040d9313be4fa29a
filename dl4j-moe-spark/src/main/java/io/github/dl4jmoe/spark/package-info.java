/**
 * Data-parallel training of the zoo models on Apache Spark by parameter averaging ({@link
 * io.github.dl4jmoe.spark.SparkTraining}), its training-loss hook, and the spark-submit program {@link
 * io.github.dl4jmoe.spark.SparkTrainProgram}. Text windows live in {@code spark.data}, routing statistics gathered
 * from the workers in {@code spark.stats}; layers and models do not live in this module.
 */
package io.github.dl4jmoe.spark;
