package io.github.dl4jmoe.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/** A Spark context of two local worker threads for tests; one per JVM at a time, so stop it when done. */
public final class LocalSpark {

    public static final int WORKERS = 2;

    private LocalSpark() {
    }

    public static JavaSparkContext start() {
        return new JavaSparkContext(new SparkConf().setMaster("local[" + WORKERS + "]")
                .setAppName("dl4j-moe-spark tests")
                .set("spark.ui.enabled", "false")
                .set("spark.driver.host", "localhost"));
    }
}
