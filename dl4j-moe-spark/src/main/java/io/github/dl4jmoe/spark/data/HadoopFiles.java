package io.github.dl4jmoe.spark.data;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;

import io.github.dl4jmoe.zoo.data.Utf8Text;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Reads and writes whole files through the Hadoop FileSystem API, so that one location string works for a local file
 * ({@code file:///...} or a plain path), HDFS ({@code hdfs://...}), or any other file system the cluster's Hadoop
 * configuration knows. A path without a scheme resolves against {@code fs.defaultFS}: the local disk when run
 * locally, usually HDFS on a cluster.
 */
public final class HadoopFiles {

    private HadoopFiles() {
    }

    /**
     * The whole file as UTF-8 text, read on the driver.
     *
     * @throws FileNotFoundException when there is no file at {@code location}
     * @throws java.nio.charset.CharacterCodingException when the bytes are not UTF-8 ({@link Utf8Text}, as every
     *                                                   other reader of this project)
     */
    public static String readText(String location, Configuration conf) throws IOException {
        Path path = new Path(location);
        FileSystem fs = path.getFileSystem(conf);
        FileStatus status;
        try {
            status = fs.getFileStatus(path);
        } catch (FileNotFoundException e) {
            throw new FileNotFoundException(location + ": no such file on " + fs.getUri());
        }
        if (!status.isFile()) {
            throw new FileNotFoundException(location + " is a directory; name a text file");
        }
        try (InputStream in = fs.open(path)) {
            return Utf8Text.decode(in.readAllBytes(), location);
        }
    }

    /**
     * Copies a local file to {@code location}, replacing what is there, and deletes the local file. A local target is
     * written without Hadoop's {@code .crc} side file.
     */
    public static void moveFromLocal(java.nio.file.Path local, String location, Configuration conf)
            throws IOException {
        Path path = new Path(location);
        FileSystem fs = path.getFileSystem(conf);
        FileSystem target = fs instanceof LocalFileSystem checksummed ? checksummed.getRaw() : fs;
        Path parent = path.getParent();
        if (parent != null) {
            target.mkdirs(parent);
        }
        target.copyFromLocalFile(true, true, new Path(local.toUri()), path);
    }
}
