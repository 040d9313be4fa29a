package io.github.dl4jmoe.spark.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HadoopFilesTest {

    private final Configuration conf = new Configuration();

    @Test
    void readsAPathOrAFileUriAsUtf8(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("text.txt");
        Files.writeString(file, "Ünïcödé ok", StandardCharsets.UTF_8);

        assertEquals("Ünïcödé ok", HadoopFiles.readText(file.toString(), conf));
        assertEquals("Ünïcödé ok", HadoopFiles.readText(file.toUri().toString(), conf));
    }

    @Test
    void movesALocalFileReplacingTheTargetWithoutAChecksumFile(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("out/sub/model.zip");
        for (String content : new String[] {"first", "second"}) {
            Path local = Files.writeString(dir.resolve("local.zip"), content);
            HadoopFiles.moveFromLocal(local, target.toUri().toString(), conf);
            assertFalse(Files.exists(local), "the local file is moved");
        }
        assertEquals("second", Files.readString(target));
        try (var files = Files.list(target.getParent())) {
            assertEquals(1, files.count(), "no .crc file beside the model");
        }
    }

    @Test
    void aMissingFileOrADirectoryIsReportedByName(@TempDir Path dir) {
        String missing = dir.resolve("nope.txt").toString();
        FileNotFoundException e = assertThrows(FileNotFoundException.class, () -> HadoopFiles.readText(missing, conf));
        assertTrue(e.getMessage().startsWith(missing + ": no such file on file:"), e.getMessage());
        assertEquals(dir + " is a directory; name a text file", assertThrows(FileNotFoundException.class,
                () -> HadoopFiles.readText(dir.toString(), conf)).getMessage());
    }
}
