package io.github.dl4jmoe.examples.notebook;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import org.nd4j.shade.jackson.core.JsonGenerator;
import org.nd4j.shade.jackson.core.util.DefaultIndenter;
import org.nd4j.shade.jackson.core.util.DefaultPrettyPrinter;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import org.nd4j.shade.jackson.databind.node.ArrayNode;
import org.nd4j.shade.jackson.databind.node.JsonNodeFactory;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/**
 * A Jupyter notebook file (nbformat 4) read and written the way Jupyter writes it: keys in the order they are in
 * (Jupyter sorts them, and every node made here is sorted), one space of indentation, {@code "key": value}, a final
 * line break, multi-line text as a list of lines each ending in {@code \n} but the last. Uses the Jackson DL4J brings
 * (shaded in ND4J), so the tests need no JSON dependency of their own.
 */
final class NotebookFile {

    static final String CELLS = "cells";
    static final String CELL_TYPE = "cell_type";
    static final String CODE = "code";
    static final String SOURCE = "source";
    static final String OUTPUTS = "outputs";
    static final String OUTPUT_TYPE = "output_type";
    static final String EXECUTION_COUNT = "execution_count";
    static final String DATA = "data";
    static final String TEXT = "text";
    static final String STREAM = "stream";
    static final String DISPLAY_DATA = "display_data";
    static final String EXECUTE_RESULT = "execute_result";
    static final String IMAGE_PNG = "image/png";
    static final String TEXT_PLAIN = "text/plain";
    /** What a notebook viewer without images shows for a chart. */
    static final String IMAGE_PLACEHOLDER = "<chart>";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private NotebookFile() {
    }

    static ObjectNode read(Path file) throws IOException {
        JsonNode node = JSON.readTree(Files.readString(file, StandardCharsets.UTF_8));
        if (!(node instanceof ObjectNode notebook)) {
            throw new IOException(file + ": not a notebook (the JSON is not an object)");
        }
        return notebook;
    }

    static void write(ObjectNode notebook, Path file) throws IOException {
        String json = JSON.writer(new JupyterPrettyPrinter()).writeValueAsString(notebook);
        Files.writeString(file, json + "\n", StandardCharsets.UTF_8);
    }

    /** The notebook's cells. */
    static List<ObjectNode> cells(ObjectNode notebook) {
        List<ObjectNode> cells = new ArrayList<>();
        notebook.withArray(CELLS).forEach(c -> cells.add((ObjectNode) c));
        return cells;
    }

    static boolean isCode(ObjectNode cell) {
        return CODE.equals(cell.path(CELL_TYPE).asText());
    }

    /** A multi-line text field: a string, or a list of lines joined. */
    static String text(JsonNode field) {
        if (field.isArray()) {
            StringBuilder out = new StringBuilder();
            field.forEach(line -> out.append(line.asText()));
            return out.toString();
        }
        return field.asText();
    }

    /** {@code text} as Jupyter stores it: lines, each with its line break but the last. */
    static ArrayNode lines(String text) {
        ArrayNode lines = NODES.arrayNode();
        int start = 0;
        while (start < text.length()) {
            int end = text.indexOf('\n', start);
            end = end < 0 ? text.length() : end + 1;
            lines.add(text.substring(start, end));
            start = end;
        }
        return lines;
    }

    /** The outputs of a code cell: printed text, then the charts shown, then the value, as Jupyter orders them. */
    static ArrayNode outputs(NotebookRunner.CellResult result, int executionCount) {
        ArrayNode outputs = NODES.arrayNode();
        if (!result.stdout().isEmpty()) {
            ObjectNode stream = outputs.addObject();
            stream.put("name", "stdout");
            stream.put(OUTPUT_TYPE, STREAM);
            stream.set(TEXT, lines(result.stdout()));
        }
        for (byte[] png : result.images()) {
            ObjectNode display = outputs.addObject();
            ObjectNode data = display.putObject(DATA);
            data.put(IMAGE_PNG, Base64.getEncoder().encodeToString(png));
            data.set(TEXT_PLAIN, lines(IMAGE_PLACEHOLDER));
            display.putObject("metadata");
            display.put(OUTPUT_TYPE, DISPLAY_DATA);
        }
        if (result.value() != null) {
            ObjectNode value = outputs.addObject();
            value.putObject(DATA).set(TEXT_PLAIN, lines(result.value()));
            value.put(EXECUTION_COUNT, executionCount);
            value.putObject("metadata");
            value.put(OUTPUT_TYPE, EXECUTE_RESULT);
        }
        return outputs;
    }

    /** Jupyter's layout: one space per level, {@code "key": value}, {@code []} and {@code {}} when empty. */
    private static final class JupyterPrettyPrinter extends DefaultPrettyPrinter {
        private static final long serialVersionUID = 1L;

        JupyterPrettyPrinter() {
            DefaultIndenter indenter = new DefaultIndenter(" ", "\n");
            _objectIndenter = indenter;
            _arrayIndenter = indenter;
            _objectFieldValueSeparatorWithSpaces = ": ";
        }

        private JupyterPrettyPrinter(JupyterPrettyPrinter base) {
            super(base);
        }

        @Override
        public DefaultPrettyPrinter createInstance() {
            return new JupyterPrettyPrinter(this);
        }

        @Override
        public void writeEndObject(JsonGenerator g, int entries) throws IOException {
            if (entries == 0) {
                _nesting--;
                g.writeRaw('}');
            } else {
                super.writeEndObject(g, entries);
            }
        }

        @Override
        public void writeEndArray(JsonGenerator g, int values) throws IOException {
            if (values == 0) {
                _nesting--;
                g.writeRaw(']');
            } else {
                super.writeEndArray(g, values);
            }
        }
    }
}
