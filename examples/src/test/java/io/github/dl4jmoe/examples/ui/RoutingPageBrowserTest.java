package io.github.dl4jmoe.examples.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * The routing page of a live run drawn by a real browser: {@code train --ui --ui-port 0} trains in its own JVM
 * ({@link LiveTraining}); once its server has a routing record the page is loaded in headless Chromium while training
 * goes on. The DOM must show both layers by name, Flot's canvases for each chart, a non-zero expert load and every
 * iteration up to the latest exactly once; the run must then have trained past the page's latest iteration, still
 * running. Skipped, saying so, where {@code /usr/bin/chromium} is missing ({@code .ci/run} installs Debian's chromium
 * package first).
 */
class RoutingPageBrowserTest {

    /** Expert load, experts per token and dropped pairs. */
    static final int MOE_CHARTS = 3;
    /** Used fraction and KL to uniform. */
    static final int PEER_CHARTS = 2;
    /** Generous limits for a loaded 2-core machine; the test takes about 20 s. */
    private static final long START_SECONDS = 120;
    private static final long RECORD_SECONDS = 120;
    private static final long POLL_MILLIS = 200;

    private static final ObjectMapper JSON = new ObjectMapper();

    static void assumeChromium() {
        assumeTrue(HeadlessChromium.installed(), "skipped: " + HeadlessChromium.BINARY + " is missing (Debian: "
                + "apt-get install chromium; .ci/run installs it)");
    }

    @Test
    void chromiumDrawsTheChartsOfARunWhileItTrains(@TempDir Path dir) throws Exception {
        assumeChromium();
        try (LiveTraining run = LiveTraining.start(dir)) {
            String url = run.url(START_SECONDS);
            String data = url + RoutingModule.DATA_PATH;
            JsonNode first = await(run, data, RoutingModule.EVERY_RECORD);
            String dom = HeadlessChromium.dumpDom(url + RoutingModule.PAGE_PATH, dir);

            assertEquals(MOE_CHARTS, canvases(section(dom, "moe", TinyRun.MOE_LAYER)), dom);
            assertEquals(PEER_CHARTS, canvases(section(dom, "peer", TinyRun.PEER_LAYER)), dom);
            assertTrue(dom.contains(">" + TinyRun.MOE_LAYER + " (MoE)</h2>") && dom.contains(">" + TinyRun.PEER_LAYER
                    + " (PEER)</h2>"), "layer names as headings: " + dom);
            Matcher load = Pattern.compile("data-load=\"([0-9,]+)\"").matcher(dom);
            assertTrue(load.find(), dom);
            long total = Arrays.stream(load.group(1).split(",")).mapToLong(Long::parseLong).sum();
            assertTrue(total > 0, "expert load " + load.group(1));
            // one worker, a record every iteration from 0: the page's incremental reads lost none and doubled none
            int records = attribute(dom, "data-rendered-records");
            int latest = attribute(dom, "data-latest-iteration");
            assertTrue(records >= 1, dom);
            assertEquals(latest + 1, records, "records drawn up to iteration " + latest);

            // live: the run goes on past what the page drew (asked for as the page asks: what is new since)
            JsonNode later = await(run, data + "?session=" + URLEncoder.encode(first.get("session").asText(),
                    StandardCharsets.UTF_8) + "&after=" + first.get("last").asLong(), latest);
            assertTrue(run.isAlive(), "still training: " + run.output());
            assertTrue(later.get("records").get(later.get("records").size() - 1).get("iteration").asInt() > latest,
                    later.toString());
        }
    }

    /** Polls {@code url}, the run's routing data, until it holds a record after {@code iteration}; that answer. */
    private static JsonNode await(LiveTraining run, String url, long iteration) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(RECORD_SECONDS);
        while (System.nanoTime() < deadline) {
            assertTrue(run.isAlive(), "train ended: " + run.output());
            JsonNode answer = JSON.readTree(Http.get(url));
            for (JsonNode r : answer.get("records")) {
                if (r.get("iteration").asLong() > iteration) {
                    return answer;
                }
            }
            Thread.sleep(POLL_MILLIS);
        }
        throw new AssertionError("no routing record after iteration " + iteration + " in " + RECORD_SECONDS + " s: "
                + run.output());
    }

    private static int attribute(String dom, String name) {
        Matcher m = Pattern.compile(name + "=\"(\\d+)\"").matcher(dom);
        assertTrue(m.find(), name + ": " + dom);
        return Integer.parseInt(m.group(1));
    }

    /** The HTML of a layer's section (up to the next section). */
    static String section(String dom, String kind, String layer) {
        Matcher m = Pattern.compile("<section[^>]*data-layer=\"" + Pattern.quote(layer) + "\" data-kind=\"" + kind
                + "\"[^>]*>(.*?)</section>", Pattern.DOTALL).matcher(dom);
        assertTrue(m.find(), "section of " + layer + ": " + dom);
        return m.group(1);
    }

    /** Flot's drawing canvases: one per chart it drew. */
    static int canvases(String html) {
        Matcher m = Pattern.compile("<canvas class=\"flot-base\"").matcher(html);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }
}
