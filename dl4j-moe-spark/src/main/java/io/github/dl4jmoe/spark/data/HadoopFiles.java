package io.github.dl4jmoe.spark.data;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.concurrent.ThreadLocalRandom;

import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;
import io.github.dl4jmoe.zoo.data.Utf8Text;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
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

    /** Marks the previous file set aside while a new one takes its name: {@code .NAME} + this. */
    public static final String PREVIOUS_MARK = ".previous";

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
     * Replaces the file at {@code location} by a copy of a local file so that a crash or a failure at any moment leaves
     * there the previous file or the new one, complete. The bytes go to a hidden temporary file beside the target
     * ({@code .NAME.tmp-<random>}, as {@link AtomicFiles} names them), flushed to the file system's storage
     * ({@code hsync}), which is then renamed over the target. Hadoop's rename replaces an existing file on the local
     * file system but refuses to on HDFS and object stores; there the previous file is first renamed aside to
     * {@code .NAME.previous} and deleted once the new one has its name. If the process dies between those two renames,
     * the next replacement of the same file puts the previous one back first. A local target is written without
     * Hadoop's {@code .crc} side file.
     */
    public static void replaceFromLocal(java.nio.file.Path local, String location, Configuration conf)
            throws IOException {
        Path given = new Path(location);
        FileSystem fs = given.getFileSystem(conf);
        if (fs instanceof LocalFileSystem checksummed) {
            fs = checksummed.getRaw();
        }
        Path target = fs.makeQualified(given);
        if (fs.exists(target) && fs.getFileStatus(target).isDirectory()) {
            throw new IOException(location + " is a directory; name a file in it, e.g. "
                    + new Path(target, "model.zip"));
        }
        Path dir = target.getParent();
        fs.mkdirs(dir);
        String hidden = "." + target.getName();
        Path previous = new Path(dir, hidden + PREVIOUS_MARK);
        recover(fs, target, previous, hidden + AtomicFiles.TEMP_MARK);
        Path temp = new Path(dir, hidden + AtomicFiles.TEMP_MARK
                + Long.toUnsignedString(ThreadLocalRandom.current().nextLong()));
        boolean renamed = false;
        try {
            try (InputStream in = Files.newInputStream(local); FSDataOutputStream out = fs.create(temp, false)) {
                in.transferTo(out);
                out.hsync();
            }
            renameOver(fs, temp, target, previous);
            renamed = true;
        } finally {
            if (!renamed) {
                fs.delete(temp, false);
            }
        }
    }

    /** Moves {@code temp} to {@code target}, replacing it (see {@link #replaceFromLocal}). */
    private static void renameOver(FileSystem fs, Path temp, Path target, Path previous) throws IOException {
        if (!fs.exists(target)) {
            rename(fs, temp, target);
            return;
        }
        try {
            if (fs.rename(temp, target)) {          // the local file system: one atomic rename
                return;
            }
        } catch (FileAlreadyExistsException e) {
            // an object store refusing to replace: set the previous file aside instead
        }
        rename(fs, target, previous);
        try {
            rename(fs, temp, target);
        } catch (IOException e) {
            fs.rename(previous, target);
            throw e;
        }
        fs.delete(previous, false);
    }

    /**
     * Puts back a previous file a killed writer left aside without a new one in its place, and deletes what else such
     * a writer leaves: a previous file that was replaced, temporary files (never complete ones: those had been
     * renamed).
     */
    private static void recover(FileSystem fs, Path target, Path previous, String tempPrefix) throws IOException {
        if (fs.exists(previous)) {
            if (fs.exists(target)) {
                fs.delete(previous, false);
            } else {
                rename(fs, previous, target);
            }
        }
        for (FileStatus leftover : fs.listStatus(target.getParent(), p -> p.getName().startsWith(tempPrefix))) {
            fs.delete(leftover.getPath(), false);
        }
    }

    private static void rename(FileSystem fs, Path from, Path to) throws IOException {
        if (!fs.rename(from, to)) {
            throw new IOException("cannot rename " + from + " to " + to + " on " + fs.getUri());
        }
    }
}
