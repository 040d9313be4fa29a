package io.github.dl4jmoe.spark.data;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * The local file system with HDFS's rename, which refuses an existing target instead of replacing it, and, when
 * {@link #FAIL_AFTER} is set, writes that fail after that many bytes, as on a full disk.
 */
public final class HdfsLikeLocalFileSystem extends RawLocalFileSystem {

    /** Bytes a stream writes before it fails; unset: never fails. */
    static final String FAIL_AFTER = "test.fail-writes-after-bytes";

    /** A configuration whose {@code file:} URIs open this file system, writes failing after {@code failAfter} bytes. */
    static Configuration configuration(long failAfter) {
        Configuration conf = new Configuration();
        conf.setClass("fs.file.impl", HdfsLikeLocalFileSystem.class, FileSystem.class);
        conf.setBoolean("fs.file.impl.disable.cache", true);
        conf.setLong(FAIL_AFTER, failAfter);
        return conf;
    }

    @Override
    public boolean rename(Path src, Path dst) throws IOException {
        return !exists(dst) && super.rename(src, dst);
    }

    @Override
    protected OutputStream createOutputStreamWithMode(Path f, boolean append, FsPermission permission)
            throws IOException {
        OutputStream stream = super.createOutputStreamWithMode(f, append, permission);
        long limit = getConf().getLong(FAIL_AFTER, -1);
        return limit < 0 ? stream : new FilterOutputStream(stream) {
            private long written;

            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (written + len > limit) {
                    throw new IOException("No space left on device (" + FAIL_AFTER + " " + limit + ")");
                }
                written += len;
                out.write(b, off, len);
            }
        };
    }
}
