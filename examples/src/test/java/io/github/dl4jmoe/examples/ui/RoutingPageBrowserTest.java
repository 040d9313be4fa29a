package io.github.dl4jmoe.examples.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The routing page drawn by a real browser: a tiny {@code train --ui --ui-file} run, its file served again by
 * {@link TrainingUi}, the page loaded in headless Chromium; the DOM must show both layers by name, Flot's canvases for
 * each chart, and a non-zero expert load. Skipped, saying so, where {@code /usr/bin/chromium} is missing
 * ({@code .ci/run} installs Debian's chromium package first).
 */
class RoutingPageBrowserTest {

    /** Expert load, experts per token and dropped pairs. */
    private static final int MOE_CHARTS = 3;
    /** Used fraction and KL to uniform. */
    private static final int PEER_CHARTS = 2;

    @Test
    void chromiumDrawsEveryLayersCharts(@TempDir Path dir) throws Exception {
        assumeTrue(HeadlessChromium.installed(), "skipped: " + HeadlessChromium.BINARY + " is missing (Debian: "
                + "apt-get install chromium; .ci/run installs it)");
        Path statsFile = dir.resolve("run.dl4j");
        TinyRun.train(dir, statsFile);
        String dom;
        try (TrainingUi ui = TrainingUi.start(TrainingUi.DEFAULT_HOST, 0, statsFile)) {
            dom = HeadlessChromium.dumpDom(ui.routingUrl(), dir);
        }
        assertTrue(dom.contains("data-rendered-records=\"" + TinyRun.STEPS + "\""), "page drew every record: " + dom);
        assertEquals(MOE_CHARTS, canvases(section(dom, "moe", TinyRun.MOE_LAYER)), dom);
        assertEquals(PEER_CHARTS, canvases(section(dom, "peer", TinyRun.PEER_LAYER)), dom);
        assertTrue(dom.contains(">" + TinyRun.MOE_LAYER + " (MoE)</h2>") && dom.contains(">" + TinyRun.PEER_LAYER
                + " (PEER)</h2>"), "layer names as headings: " + dom);
        Matcher load = Pattern.compile("data-load=\"([0-9,]+)\"").matcher(dom);
        assertTrue(load.find(), dom);
        long total = Arrays.stream(load.group(1).split(",")).mapToLong(Long::parseLong).sum();
        assertTrue(total > 0, "expert load " + load.group(1));
    }

    /** The HTML of a layer's section (up to the next section). */
    private static String section(String dom, String kind, String layer) {
        Matcher m = Pattern.compile("<section[^>]*data-layer=\"" + Pattern.quote(layer) + "\" data-kind=\"" + kind
                + "\"[^>]*>(.*?)</section>", Pattern.DOTALL).matcher(dom);
        assertTrue(m.find(), "section of " + layer + ": " + dom);
        return m.group(1);
    }

    /** Flot's drawing canvases: one per chart it drew. */
    private static int canvases(String html) {
        Matcher m = Pattern.compile("<canvas class=\"flot-base\"").matcher(html);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }
}
