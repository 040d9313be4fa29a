package io.github.dl4jmoe.zoo.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The per-step checkpoints of a run whose final model goes to {@code NAME.zip}: {@code NAME-step000500.zip} beside it,
 * the newest {@code keep} of them kept. The final model is a file of its own, never a checkpoint.
 */
public final class CheckpointFiles {

    /** Checkpoints kept by default. */
    public static final int DEFAULT_KEEP = 3;
    /** Digits of the step in a checkpoint name, zero-padded so that names sort like steps up to a million. */
    public static final int STEP_DIGITS = 6;
    private static final String STEP_MARK = "-step";

    private final Path model;
    private final String stem;
    private final String extension;
    private final Pattern name;

    /** @param model where the final model goes, e.g. {@code models/char-lm.zip} */
    public CheckpointFiles(Path model) {
        this.model = model.toAbsolutePath().normalize();
        String file = this.model.getFileName().toString();
        int dot = file.lastIndexOf('.');
        this.stem = dot > 0 ? file.substring(0, dot) : file;
        this.extension = dot > 0 ? file.substring(dot) : "";
        this.name = Pattern.compile(Pattern.quote(stem + STEP_MARK) + "(\\d+)" + Pattern.quote(extension));
    }

    /** The checkpoint of {@code step}, e.g. {@code models/char-lm-step000500.zip}. */
    public Path forStep(int step) {
        return model.resolveSibling(String.format("%s%s%0" + STEP_DIGITS + "d%s", stem, STEP_MARK, step, extension));
    }

    /** The checkpoints on disk, oldest step first (temporary files of unfinished writes are not checkpoints). */
    public List<Path> list() throws IOException {
        Path dir = model.getParent();
        List<Path> found = new ArrayList<>();
        if (Files.isDirectory(dir)) {
            try (var files = Files.list(dir)) {
                files.filter(p -> name.matcher(p.getFileName().toString()).matches()).forEach(found::add);
            }
        }
        found.sort(Comparator.comparingLong(this::step));
        return found;
    }

    /** The checkpoint of the highest step, if any. */
    public Optional<Path> newest() throws IOException {
        List<Path> all = list();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    /** Deletes all but the newest {@code keep} checkpoints. */
    public void keepNewest(int keep) throws IOException {
        List<Path> all = list();
        for (int i = 0; i < all.size() - keep; i++) {
            Files.deleteIfExists(all.get(i));
        }
    }

    /** Deletes temporary files that killed writers of the model or its checkpoints left. */
    public void deleteLeftovers() throws IOException {
        AtomicFiles.deleteLeftovers(model, stem);
    }

    /** The step in a checkpoint's name. */
    public long step(Path checkpoint) {
        Matcher m = name.matcher(checkpoint.getFileName().toString());
        if (!m.matches()) {
            throw new IllegalArgumentException(checkpoint + " is not a checkpoint of " + model + " (expected "
                    + forStep(0).getFileName() + " with another step)");
        }
        return Long.parseLong(m.group(1));
    }
}
