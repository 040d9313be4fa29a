package io.github.dl4jmoe.examples.notebook;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.internal.chartpart.Chart;

/**
 * Charts in the example notebooks. {@link #show} renders an XChart chart as an image: a Java Jupyter kernel (IJava)
 * displays a cell's returned {@code RenderedImage} as {@code image/png}. When the notebook runner of the tests sets
 * the system property {@value #RECORD_PROPERTY} to {@code true}, each shown chart is also kept as PNG bytes for the
 * runner to take ({@link #takeRecorded}) and write into the notebook; interactive sessions keep nothing.
 */
public final class Charts {

    /** System property that makes {@link #show} keep the PNG bytes of every chart it renders. */
    public static final String RECORD_PROPERTY = "dl4jmoe.notebook.recordCharts";
    /** Size of the charts {@link #bars} makes, in pixels: small enough for a notebook column. */
    public static final int WIDTH = 720;
    public static final int HEIGHT = 400;

    private static final List<byte[]> RECORDED = new ArrayList<>();

    private Charts() {
    }

    /** A bar chart of {@link #WIDTH} x {@link #HEIGHT} with a title, axis titles and a y axis from 0. */
    public static CategoryChart bars(String title, String xTitle, String yTitle) {
        CategoryChart chart = new CategoryChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(xTitle)
                .yAxisTitle(yTitle).build();
        chart.getStyler().setYAxisMin(0.0);
        return chart;
    }

    /**
     * The chart as an image, to be the value of a notebook cell; also kept as PNG if {@value #RECORD_PROPERTY} is
     * {@code true}.
     */
    public static BufferedImage show(Chart<?, ?> chart) {
        if (Boolean.getBoolean(RECORD_PROPERTY)) {
            try {
                byte[] png = BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
                synchronized (RECORDED) {
                    RECORDED.add(png);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("Charts.show: could not encode the chart as PNG", e);
            }
        }
        return BitmapEncoder.getBufferedImage(chart);
    }

    /** The PNG bytes of the charts shown since the last call, in order; the record is emptied. */
    public static List<byte[]> takeRecorded() {
        synchronized (RECORDED) {
            List<byte[]> out = new ArrayList<>(RECORDED);
            RECORDED.clear();
            return out;
        }
    }
}
