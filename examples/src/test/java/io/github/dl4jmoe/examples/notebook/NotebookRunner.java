package io.github.dl4jmoe.examples.notebook;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

import io.github.dl4jmoe.host.NativeThreads;
import jdk.jshell.DeclarationSnippet;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.VarSnippet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/**
 * Runs the code cells of one notebook in order in one JShell, the way a Java Jupyter kernel (IJava) would, and
 * returns what each cell printed, showed and evaluated to.
 *
 * <p>JShell runs with the {@code local} execution engine: snippets execute in this JVM, compiled against this JVM's
 * class path, so classes of named packages ({@link Charts}) are shared with the caller and the charts a cell shows are
 * handed over through {@link Charts#takeRecorded}. A cell's standard output is captured by replacing
 * {@code System.out} while it runs (the local engine prints to the JVM's own {@code System.out}); standard error is
 * left alone (DL4J's logging). A cell's value is its last snippet's, if that is an expression, as a Jupyter
 * {@code execute_result}; an image value (from {@link Charts#show}) is reported through the recorded PNG instead.
 */
final class NotebookRunner {

    /** Surefire's property for the test class path (java.class.path may be a manifest-only jar). */
    private static final String SUREFIRE_CLASS_PATH = "surefire.test.class.path";
    private static final String IMAGE_TYPE = "BufferedImage";

    /**
     * What one code cell produced.
     *
     * @param stdout what it printed
     * @param value  its last expression's value as JShell prints it, or null
     * @param images PNG bytes of the charts it showed, in order
     */
    record CellResult(String stdout, String value, List<byte[]> images) {
    }

    /** A cell that did not compile or threw: names the notebook, the cell and the reason. */
    static final class CellFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CellFailure(String message) {
            super(message);
        }
    }

    private NotebookRunner() {
    }

    /**
     * Runs every code cell of {@code notebook} and returns a copy whose code cells hold the new outputs and execution
     * counts 1, 2, ...; the notebook itself is not changed.
     *
     * @param name for messages, e.g. the file name
     * @throws CellFailure at the first cell that does not compile or throws
     */
    static ObjectNode execute(String name, ObjectNode notebook) {
        ObjectNode executed = notebook.deepCopy();
        List<ObjectNode> code = new ArrayList<>();
        List<String> sources = new ArrayList<>();
        List<Integer> numbers = new ArrayList<>();
        List<ObjectNode> cells = NotebookFile.cells(executed);
        for (int i = 0; i < cells.size(); i++) {
            if (NotebookFile.isCode(cells.get(i))) {
                code.add(cells.get(i));
                sources.add(NotebookFile.text(cells.get(i).path(NotebookFile.SOURCE)));
                numbers.add(i + 1);
            }
        }
        List<CellResult> results = run(name, sources, numbers);
        for (int c = 0; c < code.size(); c++) {
            code.get(c).put(NotebookFile.EXECUTION_COUNT, c + 1);
            code.get(c).set(NotebookFile.OUTPUTS, NotebookFile.outputs(results.get(c), c + 1));
        }
        return executed;
    }

    /**
     * Runs {@code cells} (the sources of the code cells, in order) in one new JShell.
     *
     * @param notebook    the notebook's name, for messages
     * @param cellNumbers each code cell's 1-based position among all cells of the notebook, for messages
     * @throws CellFailure at the first cell that is rejected by the compiler, is incomplete, or throws
     */
    static List<CellResult> run(String notebook, List<String> cells, List<Integer> cellNumbers) {
        Nd4j.getEnvironment();                                        // loads the backend NativeOpsHolder needs
        int nativeThreads = NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads();
        String previous = System.getProperty(Charts.RECORD_PROPERTY);
        System.setProperty(Charts.RECORD_PROPERTY, "true");
        Charts.takeRecorded();
        List<CellResult> results = new ArrayList<>();
        try (JShell shell = JShell.builder().executionEngine("local")
                .compilerOptions("--class-path", classPath()).build()) {
            for (int c = 0; c < cells.size(); c++) {
                String where = notebook + ", cell " + cellNumbers.get(c) + " (code cell " + (c + 1) + ")";
                results.add(runCell(shell, where, cells.get(c)));
            }
        } finally {
            if (previous == null) {
                System.clearProperty(Charts.RECORD_PROPERTY);
            } else {
                System.setProperty(Charts.RECORD_PROPERTY, previous);
            }
            Charts.takeRecorded();
            NativeThreads.set(nativeThreads);        // a notebook may change it for the process; later tests expect it
        }
        return results;
    }

    private static CellResult runCell(JShell shell, String where, String source) {
        PrintStream original = System.out;
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        String value = null;
        try (PrintStream capture = new PrintStream(buffer, true, StandardCharsets.UTF_8)) {
            System.setOut(capture);
            String rest = source;
            while (!rest.isBlank()) {
                SourceCodeAnalysis.CompletionInfo info = shell.sourceCodeAnalysis().analyzeCompletion(rest);
                if (info.completeness() == SourceCodeAnalysis.Completeness.EMPTY) {
                    break;                                          // only comments left
                }
                if (info.completeness() == SourceCodeAnalysis.Completeness.DEFINITELY_INCOMPLETE
                        || info.completeness() == SourceCodeAnalysis.Completeness.CONSIDERED_INCOMPLETE) {
                    throw new CellFailure(where + ": incomplete code at the end of the cell: " + rest.strip());
                }
                if (info.source() == null) {
                    throw new CellFailure(where + ": cannot split the cell into snippets at: " + rest.strip());
                }
                value = null;
                for (SnippetEvent event : shell.eval(info.source())) {
                    if (event.causeSnippet() == null) {
                        check(shell, where, event, capture, buffer);
                        value = valueOf(event);
                    }
                }
                rest = info.remaining();
            }
        } finally {
            System.setOut(original);
        }
        return new CellResult(buffer.toString(StandardCharsets.UTF_8), value, Charts.takeRecorded());
    }

    private static void check(JShell shell, String where, SnippetEvent event, PrintStream capture,
                              ByteArrayOutputStream printed) {
        Snippet snippet = event.snippet();
        String code = snippet.source().strip();
        if (event.status() == Snippet.Status.REJECTED) {
            String diagnostics = shell.diagnostics(snippet).map(d -> d.getMessage(Locale.ROOT))
                    .collect(Collectors.joining("; "));
            throw new CellFailure(where + ": does not compile: " + diagnostics + "\n  in: " + code);
        }
        if (event.status() == Snippet.Status.RECOVERABLE_DEFINED
                || event.status() == Snippet.Status.RECOVERABLE_NOT_DEFINED) {
            List<String> undefined = shell.unresolvedDependencies((DeclarationSnippet) snippet).toList();
            throw new CellFailure(where + ": refers to undefined names " + undefined + "\n  in: " + code);
        }
        if (event.exception() != null) {
            capture.flush();
            throw new CellFailure(where + ": threw " + describe(event.exception()) + "\n  in: " + code
                    + "\n  printed before: " + printed.toString(StandardCharsets.UTF_8).strip());
        }
    }

    /** The exception's class and message, and its causes'. */
    private static String describe(Throwable exception) {
        StringBuilder out = new StringBuilder();
        for (Throwable t = exception; t != null; t = t.getCause()) {
            if (out.length() > 0) {
                out.append(", caused by ");
            }
            out.append(t instanceof EvalException e ? e.getExceptionClassName() : t.getClass().getName());
            if (t.getMessage() != null) {
                out.append(": ").append(t.getMessage());
            }
        }
        return out.toString();
    }

    /** The value of an expression snippet, null for declarations, statements and images. */
    private static String valueOf(SnippetEvent event) {
        if (event.snippet() instanceof VarSnippet var
                && var.subKind() == Snippet.SubKind.TEMP_VAR_EXPRESSION_SUBKIND
                && !var.typeName().endsWith(IMAGE_TYPE)) {
            return event.value();
        }
        return null;
    }

    private static String classPath() {
        return System.getProperty(SUREFIRE_CLASS_PATH, System.getProperty("java.class.path"));
    }
}
