/**
 * Training data on a cluster: a text as an RDD of next-character windows, and files read and written through the
 * Hadoop FileSystem API (local paths, hdfs://, s3a://, ...).
 */
package io.github.dl4jmoe.spark.data;
