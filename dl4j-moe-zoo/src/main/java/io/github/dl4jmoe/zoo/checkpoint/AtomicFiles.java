package io.github.dl4jmoe.zoo.checkpoint;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a file so that a crash at any moment leaves either the old file or the new one, complete: the content goes
 * to a hidden temporary file beside the target ({@code .NAME.tmp-<random>}), is forced to disk, and is renamed over
 * the target ({@code ATOMIC_MOVE}, or a plain replacing move on a file system without atomic moves). A temporary file
 * left by a killed process is never read; {@link #deleteLeftovers} removes them.
 */
public final class AtomicFiles {

    /** Marks a temporary file: {@code .NAME} + this + a random number. */
    public static final String TEMP_MARK = ".tmp-";

    private AtomicFiles() {
    }

    /** Writes the complete content of a file to the path it is given. */
    @FunctionalInterface
    public interface Content {
        void writeTo(Path file) throws IOException;
    }

    /**
     * Writes {@code target} through a temporary file beside it; creates missing parent directories. On failure the
     * target is unchanged and the temporary file is removed.
     */
    public static void write(Path target, Content content) throws IOException {
        Path file = target.toAbsolutePath().normalize();
        Path dir = file.getParent();
        Files.createDirectories(dir);
        Path temp = createTemp(dir, file.getFileName().toString());
        boolean moved = false;
        try {
            content.writeTo(temp);
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                channel.force(true);
            }
            move(temp, file);
            moved = true;
            forceDirectory(dir);
        } finally {
            if (!moved) {
                Files.deleteIfExists(temp);
            }
        }
    }

    /**
     * Rejects an output that would overwrite an input, before any work: {@code "--out models/a.zip is also --resume
     * (write to another file)"}.
     *
     * @param input may be null (no such input given)
     */
    public static void requireDistinct(String outputOption, Path output, String inputOption, Path input)
            throws IOException {
        if (input == null || output == null) {
            return;
        }
        boolean same = output.toAbsolutePath().normalize().equals(input.toAbsolutePath().normalize())
                || Files.exists(output) && Files.exists(input) && Files.isSameFile(output, input);
        if (same) {
            throw new IllegalArgumentException(outputOption + " " + output + " is also " + inputOption
                    + "; writing it would replace the input (give " + outputOption + " another file)");
        }
    }

    /** Deletes temporary files a killed writer of {@code target}, or of a name starting like it, left beside it. */
    public static void deleteLeftovers(Path target, String namePrefix) throws IOException {
        Path dir = target.toAbsolutePath().normalize().getParent();
        if (!Files.isDirectory(dir)) {
            return;
        }
        String prefix = "." + namePrefix;
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                String name = p.getFileName().toString();
                if (name.startsWith(prefix) && name.contains(TEMP_MARK)) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private static Path createTemp(Path dir, String name) throws IOException {
        while (true) {
            Path temp = dir.resolve("." + name + TEMP_MARK + Long.toUnsignedString(ThreadLocalRandom.current()
                    .nextLong()));
            try {
                return Files.createFile(temp);            // the umask's permissions, as the target would get
            } catch (FileAlreadyExistsException e) {
                // drawn twice: draw again
            }
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Makes the rename itself durable where the platform allows forcing a directory (not on Windows). */
    private static void forceDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // the file is complete either way; only its name may not yet be on disk after a power loss
        }
    }
}
