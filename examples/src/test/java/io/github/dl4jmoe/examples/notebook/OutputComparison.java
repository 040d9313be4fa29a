package io.github.dl4jmoe.examples.notebook;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/**
 * Whether a notebook's committed outputs are those its code produces now: per code cell the same outputs in the same
 * order (kind, stream name, MIME types), and the same text up to the last digits of numbers. Numbers may differ by
 * {@value #TOLERANCE} relative (at least that much absolute), because another machine's thread count or vector
 * width may change a float's last bits, and a printed rounding with them; charts are compared by count only, as PNG
 * bytes depend on the fonts installed.
 */
final class OutputComparison {

    /** Largest relative (and absolute, below 1) difference of two numbers that count as equal. */
    static final double TOLERANCE = 1e-3;
    private static final Pattern NUMBER = Pattern.compile("-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?");

    private OutputComparison() {
    }

    /** What differs between the code cells' outputs of two versions of one notebook; empty if nothing does. */
    static List<String> differences(ObjectNode committed, ObjectNode executed) {
        List<String> out = new ArrayList<>();
        List<ObjectNode> before = codeCells(committed);
        List<ObjectNode> now = codeCells(executed);
        if (before.size() != now.size()) {
            out.add(before.size() + " code cells committed, " + now.size() + " executed");
            return out;
        }
        for (int c = 0; c < now.size(); c++) {
            JsonNode a = before.get(c).path(NotebookFile.OUTPUTS);
            JsonNode b = now.get(c).path(NotebookFile.OUTPUTS);
            String cell = "code cell " + (c + 1);
            if (a.size() != b.size()) {
                out.add(cell + ": " + a.size() + " outputs committed, " + b.size() + " now: " + kinds(a) + " vs "
                        + kinds(b));
                continue;
            }
            for (int o = 0; o < a.size(); o++) {
                String kindA = kind(a.get(o));
                String kindB = kind(b.get(o));
                if (!kindA.equals(kindB)) {
                    out.add(cell + ", output " + (o + 1) + ": committed " + kindA + ", now " + kindB);
                } else if (!equivalent(text(a.get(o)), text(b.get(o)))) {
                    out.add(cell + ", output " + (o + 1) + " (" + kindA + "): committed\n" + text(a.get(o))
                            + "\nnow\n" + text(b.get(o)));
                }
            }
        }
        return out;
    }

    /**
     * Whether two texts are equal but for numbers within {@link #TOLERANCE}: every stretch between numbers must be
     * identical, and the texts must hold as many numbers.
     */
    static boolean equivalent(String a, String b) {
        Matcher ma = NUMBER.matcher(a);
        Matcher mb = NUMBER.matcher(b);
        int ea = 0;
        int eb = 0;
        while (true) {
            boolean fa = ma.find();
            boolean fb = mb.find();
            if (fa != fb) {
                return false;
            }
            if (!fa) {
                return a.substring(ea).equals(b.substring(eb));
            }
            if (!a.substring(ea, ma.start()).equals(b.substring(eb, mb.start()))) {
                return false;
            }
            double x = Double.parseDouble(ma.group());
            double y = Double.parseDouble(mb.group());
            if (Math.abs(x - y) > TOLERANCE * Math.max(1, Math.max(Math.abs(x), Math.abs(y)))) {
                return false;
            }
            ea = ma.end();
            eb = mb.end();
        }
    }

    private static List<ObjectNode> codeCells(ObjectNode notebook) {
        return NotebookFile.cells(notebook).stream().filter(NotebookFile::isCode).toList();
    }

    /** E.g. {@code stream stdout}, {@code display_data [image/png, text/plain]}. */
    private static String kind(JsonNode output) {
        String type = output.path(NotebookFile.OUTPUT_TYPE).asText();
        if (output.has("name")) {
            return type + " " + output.get("name").asText();
        }
        List<String> mimeTypes = new ArrayList<>();
        output.path(NotebookFile.DATA).fieldNames().forEachRemaining(mimeTypes::add);
        return type + " " + mimeTypes;
    }

    private static List<String> kinds(JsonNode outputs) {
        List<String> kinds = new ArrayList<>();
        outputs.forEach(o -> kinds.add(kind(o)));
        return kinds;
    }

    /** The text of a stream or the text/plain of a result; charts count by kind only. */
    private static String text(JsonNode output) {
        if (output.has(NotebookFile.TEXT)) {
            return NotebookFile.text(output.get(NotebookFile.TEXT));
        }
        JsonNode data = output.path(NotebookFile.DATA);
        return data.has(NotebookFile.IMAGE_PNG) ? "" : NotebookFile.text(data.path(NotebookFile.TEXT_PLAIN));
    }
}
