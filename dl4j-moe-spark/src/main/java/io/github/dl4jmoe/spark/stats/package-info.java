/** Routing statistics of the MoE layers measured on every partition of an RDD and merged on the driver. */
package io.github.dl4jmoe.spark.stats;
