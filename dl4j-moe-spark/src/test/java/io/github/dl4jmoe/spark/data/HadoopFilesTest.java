package io.github.dl4jmoe.spark.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;
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
    void replacesTheTargetWithACopyOfALocalFileLeavingNoOtherFile(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("out/sub/model.zip");
        for (String content : new String[] {"first", "second"}) {
            Path local = Files.writeString(dir.resolve("local.zip"), content);
            HadoopFiles.replaceFromLocal(local, target.toUri().toString(), conf);
        }
        assertEquals("second", Files.readString(target));
        assertEquals(List.of(target), files(target.getParent()), "no .crc, temporary or previous file beside it");
    }

    @Test
    void whereRenameDoesNotReplaceThePreviousFileIsSetAsideUntilTheNewOneHasItsName(@TempDir Path dir)
            throws IOException {
        Path target = Files.writeString(dir.resolve("model.zip"), "first");
        Path local = Files.writeString(dir.resolve("local.zip"), "second");
        HadoopFiles.replaceFromLocal(local, target.toUri().toString(), HdfsLikeLocalFileSystem.configuration(-1));
        assertEquals("second", Files.readString(target));
        assertEquals(List.of(local, target), files(dir));
    }

    @Test
    void aWriteThatFailsLeavesThePreviousFileIntact(@TempDir Path dir) throws IOException {
        Path target = Files.writeString(dir.resolve("model.zip"), "the previous model");
        Path local = Files.write(dir.resolve("local.zip"), new byte[100_000]);
        IOException e = assertThrows(IOException.class, () -> HadoopFiles.replaceFromLocal(local,
                target.toUri().toString(), HdfsLikeLocalFileSystem.configuration(50_000)));
        assertTrue(e.getMessage().startsWith("No space left on device"), e.getMessage());
        assertEquals("the previous model", Files.readString(target));
        assertEquals(List.of(local, target), files(dir), "the temporary file is deleted");
    }

    @Test
    void thePreviousFileAKilledWriterLeftAsideIsPutBackAndItsTemporaryFileDeleted(@TempDir Path dir)
            throws IOException {
        Path target = dir.resolve("model.zip");
        Files.writeString(dir.resolve(".model.zip" + HadoopFiles.PREVIOUS_MARK), "the previous model");
        Files.writeString(dir.resolve(".model.zip" + AtomicFiles.TEMP_MARK + "123"), "the new model, comp");
        Path local = Files.write(dir.resolve("local.zip"), new byte[100_000]);
        assertThrows(IOException.class, () -> HadoopFiles.replaceFromLocal(local, target.toUri().toString(),
                HdfsLikeLocalFileSystem.configuration(50_000)));
        assertEquals("the previous model", Files.readString(target));
        assertEquals(List.of(local, target), files(dir));
    }

    private static List<Path> files(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.sorted().toList();
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
