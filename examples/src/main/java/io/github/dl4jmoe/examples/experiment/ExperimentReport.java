package io.github.dl4jmoe.examples.experiment;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import io.github.dl4jmoe.examples.RoutingReport;
import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * What an experiment writes into its folder: CSV tables, PNG line charts and {@code report.md}, which names the claim,
 * the command, the tables and the charts. The main table is also printed.
 */
final class ExperimentReport {

    static final String REPORT = "report.md";

    private final Path folder;
    private final StringBuilder markdown = new StringBuilder();
    private final List<Path> written = new ArrayList<>();

    /**
     * @param claim   the paper's claim this experiment checks, one paragraph
     * @param command the command line that produced the report
     */
    ExperimentReport(Path folder, String title, String claim, String command) {
        this.folder = folder;
        markdown.append("# ").append(title).append("\n\n").append(claim).append("\n\n")
                .append("Produced by:\n\n```\n").append(command).append("\n```\n\n");
    }

    /** Writes {@code table} to {@code csvName}, adds it to the report under {@code heading} and prints it. */
    void table(String heading, ResultTable table, String csvName, PrintStream console) throws IOException {
        Path csv = folder.resolve(csvName);
        table.writeCsv(csv);
        written.add(csv);
        markdown.append("## ").append(heading).append("\n\n").append(table.markdown()).append('\n')
                .append("(").append(csvName).append(")\n\n");
        console.println(heading);
        console.print(table.markdown());
        console.println();
    }

    /** A line chart, one series per entry of {@code series}, saved as {@code pngName} and shown in the report. */
    void lineChart(String pngName, String title, String xTitle, String yTitle, boolean logX, List<Series> series)
            throws IOException {
        XYChart chart = new XYChartBuilder().width(RoutingReport.CHART_WIDTH).height(RoutingReport.CHART_HEIGHT)
                .title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        chart.getStyler().setXAxisLogarithmic(logX);
        for (Series s : series) {
            chart.addSeries(s.name(), s.x(), s.y()).setMarker(s.x().length > 20 ? SeriesMarkers.NONE
                    : SeriesMarkers.CIRCLE);
        }
        Path png = folder.resolve(pngName);
        AtomicFiles.write(png, temporary -> {
            try (OutputStream out = Files.newOutputStream(temporary)) {
                BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
            }
        });
        written.add(png);
        markdown.append("![").append(title).append("](").append(pngName).append(")\n\n");
    }

    /** A paragraph of the report (findings, caveats). */
    void paragraph(String text) {
        markdown.append(text).append("\n\n");
    }

    /** Writes report.md, says where on {@code console} and returns every file written. */
    List<Path> finish(PrintStream console) throws IOException {
        Path report = folder.resolve(REPORT);
        AtomicFiles.write(report, temporary -> Files.writeString(temporary, markdown, StandardCharsets.UTF_8));
        written.add(report);
        console.println("wrote " + report);
        return written;
    }

    /** One line of a chart. */
    record Series(String name, double[] x, double[] y) {
    }
}
