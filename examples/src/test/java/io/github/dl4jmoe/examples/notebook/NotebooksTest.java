package io.github.dl4jmoe.examples.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/**
 * The notebooks of {@code examples/notebooks}: every code cell runs ({@link NotebookRunner}, one JShell per notebook)
 * and produces the outputs committed with it. With {@code -D}{@value #WRITE_PROPERTY}{@code =true} the new outputs
 * are written into the notebook files instead of compared (README: how to re-execute the notebooks).
 */
class NotebooksTest {

    /** Set to {@code true} to write the outputs back into the notebooks. */
    static final String WRITE_PROPERTY = "notebooks.write";
    /** The notebooks, relative to the examples module (surefire's working directory). */
    static final Path NOTEBOOKS = Path.of("notebooks");

    static Stream<Path> notebooks() throws IOException {
        try (Stream<Path> files = Files.list(NOTEBOOKS)) {
            return files.filter(f -> f.toString().endsWith(".ipynb")).sorted().toList().stream();
        }
    }

    @ParameterizedTest
    @MethodSource("notebooks")
    void everyCellRunsAndGivesTheCommittedOutputs(Path file) throws IOException {
        ObjectNode committed = NotebookFile.read(file);
        long start = System.nanoTime();
        ObjectNode executed = NotebookRunner.execute(file.getFileName().toString(), committed);
        System.out.printf(Locale.ROOT, "%s ran in %.1f s%n", file.getFileName(), (System.nanoTime() - start) / 1e9);
        if (Boolean.getBoolean(WRITE_PROPERTY)) {
            NotebookFile.write(executed, file);
            return;
        }
        List<String> differences = OutputComparison.differences(committed, executed);
        assertTrue(differences.isEmpty(), file + ": the committed outputs are not what the notebook gives now "
                + "(re-execute the notebooks as README says):\n" + String.join("\n", differences));
    }

    @Test
    void everyNotebookIsNbformat4ForAJavaKernelWithOutputsAndTheyShowCharts() throws IOException {
        List<Path> files = notebooks().toList();
        assertTrue(files.size() >= 4, "one notebook per technique and one for the zoo: " + files);
        int charts = 0;
        for (Path file : files) {
            ObjectNode notebook = NotebookFile.read(file);
            assertEquals(4, notebook.path("nbformat").asInt(), file + ": nbformat");
            assertEquals("java", notebook.path("metadata").path("kernelspec").path("name").asText(), file + ": kernel");
            boolean markdown = false;
            int executed = 0;
            for (ObjectNode cell : NotebookFile.cells(notebook)) {
                markdown |= "markdown".equals(cell.path(NotebookFile.CELL_TYPE).asText());
                if (NotebookFile.isCode(cell)) {
                    assertTrue(cell.path(NotebookFile.EXECUTION_COUNT).isInt(), file + ": a code cell never ran");
                    executed++;
                    for (JsonNode output : cell.path(NotebookFile.OUTPUTS)) {
                        String png = output.path(NotebookFile.DATA).path(NotebookFile.IMAGE_PNG).asText("");
                        if (!png.isEmpty()) {
                            BufferedImage image = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder()
                                    .decode(png)));
                            assertNotNull(image, file + ": an image/png output that is not a PNG");
                            charts++;
                        }
                    }
                }
            }
            assertTrue(markdown, file + ": no markdown cell explains the code");
            assertTrue(executed > 0 && hasOutputs(notebook), file + ": no outputs committed");
        }
        assertTrue(charts >= 1, "no notebook shows a chart");
    }

    private static boolean hasOutputs(ObjectNode notebook) {
        return NotebookFile.cells(notebook).stream().anyMatch(c -> c.path(NotebookFile.OUTPUTS).size() > 0);
    }

    @Test
    void printedTextValuesAndChartsBecomeJupyterOutputs(@TempDir Path dir) throws IOException {
        Path file = notebook(dir, """
                int answer = 6 * 7;
                System.out.println("answer " + answer);
                answer + 0.5""", """
                import io.github.dl4jmoe.examples.notebook.Charts;
                import java.util.List;
                import org.knowm.xchart.CategoryChart;
                CategoryChart chart = Charts.bars("t", "x", "y");
                chart.addSeries("s", List.of("a", "b"), List.of(1, answer));
                Charts.show(chart)""");
        ObjectNode executed = NotebookRunner.execute("test.ipynb", NotebookFile.read(file));
        NotebookFile.write(executed, file);
        String json = Files.readString(file, StandardCharsets.UTF_8);
        assertTrue(json.startsWith("{\n \"cells\": [\n  {\n   \"cell_type\": \"markdown\",\n"), json);
        assertTrue(json.contains("\"metadata\": {},"), "empty objects as Jupyter writes them: " + json);
        assertTrue(json.endsWith("}\n"), json);

        List<ObjectNode> code = NotebookFile.cells(NotebookFile.read(file)).stream().filter(NotebookFile::isCode)
                .toList();
        JsonNode first = code.get(0).path(NotebookFile.OUTPUTS);
        assertEquals(1, code.get(0).path(NotebookFile.EXECUTION_COUNT).asInt());
        assertEquals("stream", first.get(0).path(NotebookFile.OUTPUT_TYPE).asText());
        assertEquals("answer 42\n", NotebookFile.text(first.get(0).path(NotebookFile.TEXT)));
        assertEquals("execute_result", first.get(1).path(NotebookFile.OUTPUT_TYPE).asText());
        assertEquals("42.5", NotebookFile.text(first.get(1).path(NotebookFile.DATA).path(NotebookFile.TEXT_PLAIN)));
        JsonNode second = code.get(1).path(NotebookFile.OUTPUTS);
        assertEquals(1, second.size(), "the chart and no text value of the image: " + second);
        assertEquals("display_data", second.get(0).path(NotebookFile.OUTPUT_TYPE).asText());
        byte[] png = Base64.getDecoder().decode(second.get(0).path(NotebookFile.DATA).path(NotebookFile.IMAGE_PNG)
                .asText());
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(Charts.WIDTH, image.getWidth());
        assertFalse(Boolean.getBoolean(Charts.RECORD_PROPERTY), "the runner leaves charts unrecorded afterwards");
    }

    @Test
    void aCellThatThrowsFailsNamingTheNotebookCellAndException(@TempDir Path dir) throws IOException {
        Path file = notebook(dir, "int x = 1;", "System.out.println(\"before\");\n"
                + "if (x == 1) throw new IllegalStateException(\"broken on purpose\");");
        NotebookRunner.CellFailure failure = assertThrows(NotebookRunner.CellFailure.class,
                () -> NotebookRunner.execute("broken.ipynb", NotebookFile.read(file)));
        assertTrue(failure.getMessage().startsWith("broken.ipynb, cell 3 (code cell 2): threw "
                + "java.lang.IllegalStateException: broken on purpose"), failure.getMessage());
        assertTrue(failure.getMessage().contains("printed before: before"), failure.getMessage());
    }

    @Test
    void aCellThatDoesNotCompileFailsWithTheCompilersMessage(@TempDir Path dir) throws IOException {
        Path file = notebook(dir, "String s = 1 + ;");
        NotebookRunner.CellFailure failure = assertThrows(NotebookRunner.CellFailure.class,
                () -> NotebookRunner.execute("typo.ipynb", NotebookFile.read(file)));
        assertTrue(failure.getMessage().startsWith("typo.ipynb, cell 2 (code cell 1): does not compile: "),
                failure.getMessage());
        Path undefined = notebook(dir, "System.out.println(noSuchVariable);");
        failure = assertThrows(NotebookRunner.CellFailure.class,
                () -> NotebookRunner.execute("undefined.ipynb", NotebookFile.read(undefined)));
        assertTrue(failure.getMessage().contains("noSuchVariable"), failure.getMessage());
    }

    @Test
    void committedOutputsThatTheCodeNoLongerGivesAreReported(@TempDir Path dir) throws IOException {
        Path file = notebook(dir, "System.out.println(\"loss \" + 0.25);", "System.out.println(\"done\");");
        ObjectNode executed = NotebookRunner.execute("stale.ipynb", NotebookFile.read(file));
        assertTrue(OutputComparison.differences(executed, executed.deepCopy()).isEmpty());

        ObjectNode edited = executed.deepCopy();
        List<ObjectNode> code = NotebookFile.cells(edited).stream().filter(NotebookFile::isCode).toList();
        ((ObjectNode) code.get(0).path(NotebookFile.OUTPUTS).get(0)).set(NotebookFile.TEXT,
                NotebookFile.lines("loss 0.5\n"));
        code.get(1).withArray(NotebookFile.OUTPUTS).removeAll();
        List<String> differences = OutputComparison.differences(edited, executed);
        assertEquals(2, differences.size(), differences.toString());
        assertTrue(differences.get(0).startsWith("code cell 1, output 1 (stream stdout): committed\nloss 0.5\n"),
                differences.get(0));
        assertTrue(differences.get(1).startsWith("code cell 2: 0 outputs committed, 1 now"), differences.get(1));
    }

    @Test
    void outputsDifferOnlyByNumbersWithinTheTolerance() {
        assertTrue(OutputComparison.equivalent("loss 2.4456 after 10 steps\n", "loss 2.4457 after 10 steps\n"));
        assertTrue(OutputComparison.equivalent("p=0.0001", "p=0.0002"));
        assertFalse(OutputComparison.equivalent("loss 2.4456", "loss 2.5456"));
        assertFalse(OutputComparison.equivalent("loss 2.4456", "cost 2.4456"));
        assertFalse(OutputComparison.equivalent("experts 1 2", "experts 1 2 3"));
        assertFalse(OutputComparison.equivalent("sample: ROMEO", "sample: JULIET"));
    }

    /** A notebook of a markdown cell and the given code cells. */
    private static Path notebook(Path dir, String... code) throws IOException {
        StringBuilder cells = new StringBuilder(
                "{\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": [\"# t\"]}");
        for (String source : code) {
            cells.append(", {\"cell_type\": \"code\", \"execution_count\": null, \"metadata\": {}, \"outputs\": [], "
                    + "\"source\": ").append(NotebookFile.lines(source)).append('}');
        }
        Path file = Files.createTempFile(dir, "test", ".ipynb");
        Files.writeString(file, "{\"cells\": [" + cells + "], \"metadata\": {\"kernelspec\": {\"display_name\": "
                + "\"Java\", \"language\": \"java\", \"name\": \"java\"}}, \"nbformat\": 4, \"nbformat_minor\": 5}");
        return file;
    }
}
