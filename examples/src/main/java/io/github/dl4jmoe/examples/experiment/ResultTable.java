package io.github.dl4jmoe.examples.experiment;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;

/** A table of an experiment's results: written as CSV, shown as Markdown (report.md and the console). */
final class ResultTable {

    private final List<String> columns;
    private final List<List<String>> rows = new ArrayList<>();

    ResultTable(String... columns) {
        this.columns = List.of(columns);
    }

    /** Adds a row: numbers as {@link #format} writes them, anything else as its text. */
    ResultTable add(Object... values) {
        if (values.length != columns.size()) {
            throw new IllegalArgumentException("ResultTable: " + values.length + " values for " + columns);
        }
        List<String> row = new ArrayList<>();
        for (Object value : values) {
            row.add(format(value));
        }
        rows.add(row);
        return this;
    }

    /** Doubles with 4 decimals (NaN as empty), other values as their text. */
    static String format(Object value) {
        if (value instanceof Double d) {
            return d.isNaN() ? "" : String.format(Locale.ROOT, "%.4f", d);
        }
        return String.valueOf(value);
    }

    List<List<String>> rows() {
        return rows;
    }

    void writeCsv(Path file) throws IOException {
        StringBuilder csv = new StringBuilder(String.join(",", columns)).append('\n');
        for (List<String> row : rows) {
            csv.append(String.join(",", row)).append('\n');
        }
        AtomicFiles.write(file, temporary -> Files.writeString(temporary, csv, StandardCharsets.UTF_8));
    }

    String markdown() {
        StringBuilder md = new StringBuilder("| ").append(String.join(" | ", columns)).append(" |\n|");
        columns.forEach(c -> md.append(" --- |"));
        md.append('\n');
        for (List<String> row : rows) {
            md.append("| ").append(String.join(" | ", row)).append(" |\n");
        }
        return md.toString();
    }
}
