package io.github.dl4jmoe.examples.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.github.dl4jmoe.examples.MoeExamples;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Each experiment's quick mode writes its tables, charts and report; bad options are one-line usage errors. */
class ExperimentCommandTest {

    private static int run(String... args) {
        return MoeExamples.commandLine().execute(args);
    }

    private static List<String[]> csv(Path file) throws IOException {
        return Files.readAllLines(file).stream().skip(1).map(line -> line.split(",", -1)).toList();
    }

    private static void assertPng(Path file) throws IOException {
        assertNotNull(ImageIO.read(file.toFile()), file + " is not an image");
    }

    @Test
    void peerScalingQuickWritesOneRowPerExpertCountAndNormWithUsage(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("peer");
        assertEquals(0, run("experiment", "peer-scaling", "--quick", "--out", out.toString()));
        List<String[]> rows = csv(out.resolve(PeerScalingExperiment.RESULTS_CSV));
        assertEquals(4, rows.size(), "2 values of N x 2 query normalisations");
        for (String[] row : rows) {
            double loss = Double.parseDouble(row[2]);
            double used = Double.parseDouble(row[3]);
            double kl = Double.parseDouble(row[4]);
            assertTrue(loss > 0 && loss < 10, "validation loss " + loss);
            assertTrue(used > 0 && used <= 1, "used fraction " + used);
            assertTrue(kl >= 0, "KL " + kl);
        }
        assertEquals(List.of("16", "64", "16", "64"), rows.stream().map(r -> r[0]).toList());
        String report = Files.readString(out.resolve(ExperimentReport.REPORT));
        assertTrue(report.contains("| experts | query_norm | validation_loss |"), report);
        assertTrue(report.contains("./dl4j-moe experiment peer-scaling --quick"), report);
        assertPng(out.resolve("validation-loss.png"));
        assertPng(out.resolve("expert-usage.png"));
        assertTrue(csv(out.resolve(PeerScalingExperiment.CURVES_CSV)).size() >= 4 * 5, "a curve point per step");
    }

    @Test
    void topPQuickComparesThreeRoutersAndCorrelatesLossWithExperts(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("top-p");
        assertEquals(0, run("experiment", "top-p", "--quick", "--out", out.toString()));
        List<String[]> rows = csv(out.resolve(TopPExperiment.RESULTS_CSV));
        assertEquals(List.of("top-p 0.4", "top-1", "top-2"), rows.stream().map(r -> r[0]).toList());
        assertEquals(1.0, Double.parseDouble(rows.get(1)[2]), 1e-9, "top-1 uses one expert per token");
        assertEquals(2.0, Double.parseDouble(rows.get(2)[2]), 1e-9, "top-2 uses two");
        double topP = Double.parseDouble(rows.get(0)[2]);
        assertTrue(topP >= 1 && topP <= 8, "top-p experts per token " + topP);
        List<String[]> correlation = csv(out.resolve(TopPExperiment.CORRELATION_CSV));
        assertEquals(2, correlation.size(), "one row per MoE layer");
        for (String[] row : correlation) {
            assertTrue(Integer.parseInt(row[1]) > 0, "tokens");
            assertTrue(row[2].isEmpty() || Math.abs(Double.parseDouble(row[2])) <= 1, "a correlation: " + row[2]);
        }
        List<String[]> perStep = csv(out.resolve(TopPExperiment.EXPERTS_CSV));
        assertEquals(3 * 4 * 2, perStep.size(), "3 routers x 4 steps x 2 layers");
        assertPng(out.resolve("experts-per-token.png"));
    }

    @Test
    void upcyclingQuickStartsPreservingAtTheDenseLossAndTrainsEveryModel(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("upcycling");
        assertEquals(0, run("experiment", "upcycling", "--quick", "--out", out.toString()));
        List<String[]> rows = csv(out.resolve(UpcyclingExperiment.RESULTS_CSV));
        assertEquals(List.of("dense", "AUTHORS", "PRESERVING", "COPY"), rows.stream().map(r -> r[0]).toList());
        double dense = Double.parseDouble(rows.get(0)[1]);
        assertEquals(dense, Double.parseDouble(rows.get(2)[1]), 1e-4, "PRESERVING is the dense function");
        for (String[] row : rows) {
            assertTrue(Double.parseDouble(row[2]) > 0, row[0] + " loss after");
        }
        List<String[]> curves = csv(out.resolve(UpcyclingExperiment.CURVES_CSV));
        assertEquals(4 * 3, curves.size(), "4 models at steps 0, 2 and 4");
        assertPng(out.resolve("validation-loss.png"));
        assertUsage("--warmup must be 0 or more, got -1", "experiment", "upcycling", "--quick", "--warmup", "-1",
                "--out", dir.resolve("bad").toString());
    }

    @Test
    void balancingQuickComparesThreeVariantsAndRecordsTheLoadKlOfEveryStep(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("balancing");
        assertEquals(0, run("experiment", "balancing", "--quick", "--out", out.toString()));
        List<String[]> rows = csv(out.resolve(BalancingExperiment.RESULTS_CSV));
        assertEquals(List.of("none", "load-balance loss 0.01", "expert bias"), rows.stream().map(r -> r[0]).toList());
        for (String[] row : rows) {
            for (int column = 2; column <= 3; column++) {
                double kl = Double.parseDouble(row[column]);
                assertTrue(kl >= 0 && kl <= Math.log(8) + 1e-9, row[0] + ": load KL " + kl + " out of [0, ln 8]");
            }
        }
        assertEquals(3 * 4 * 2, csv(out.resolve(BalancingExperiment.KL_CSV)).size(), "3 variants x 4 steps x 2 layers");
        assertPng(out.resolve("load-kl.png"));
    }

    @Test
    void spearmanIsNaNForConstantSidesAndOneForMonotoneData() {
        assertTrue(Double.isNaN(TopPExperiment.spearman(new double[] {1, 2, 3}, new double[] {2, 2, 2})));
        assertEquals(1.0, TopPExperiment.spearman(new double[] {1, 5, 9}, new double[] {0, 1, 7}), 1e-12);
        assertEquals(-1.0, TopPExperiment.spearman(new double[] {1, 5, 9}, new double[] {3, 2, 1}), 1e-12);
    }

    @Test
    void badOptionsAreOneLineUsageErrors(@TempDir Path dir) throws IOException {
        assertUsage("--experts: 15 is not a perfect square", "experiment", "peer-scaling", "--quick", "--experts",
                "15", "--out", dir.resolve("a").toString());
        assertUsage("--top-k 8 exceeds sqrt(N) = 4 for N = 16", "experiment", "peer-scaling", "--quick",
                "--experts", "16", "--top-k", "8", "--out", dir.resolve("b").toString());
        assertUsage("--p must be in (0, 1], got 0.0", "experiment", "top-p", "--quick", "--p", "0", "--out",
                dir.resolve("c").toString());
        Path file = Files.writeString(dir.resolve("file"), "x");
        assertUsage("--out: " + file + " is a file; name a folder", "experiment", "top-p", "--quick", "--out",
                file.toString());
    }

    /** Asserts exit code 2 and one line on standard error containing {@code expected}. */
    private static void assertUsage(String expected, String... args) {
        StringWriter err = new StringWriter();
        CommandLine cli = MoeExamples.commandLine();
        cli.setErr(new PrintWriter(err, true));
        assertEquals(2, cli.execute(args), err.toString());
        String printed = err.toString();
        assertEquals(1, printed.lines().count(), "one line: " + printed);
        assertTrue(printed.contains(expected), printed);
    }
}
