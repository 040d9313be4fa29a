package io.github.dl4jmoe.examples.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * {@code train --ui --workers 2}: DL4J's {@code ParallelWrapper} clones {@code StatsListener} and
 * {@link RoutingStorageListener} for each worker, so both workers' replicas report, under their own worker ids, in the
 * run's one session, which DL4J's UI shows with both workers and the routing page with a series per worker.
 */
class TrainingUiWorkersTest {

    private static final int WORKERS = 2;
    private static final int AVERAGING_FREQUENCY = 2;
    /** Two averaging rounds: each worker trains 2 minibatches per round. */
    private static final int STEPS = 2 * WORKERS * AVERAGING_FREQUENCY;
    private static final String STATS_LISTENER_TYPE = "StatsListener";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    private static Path statsFile;

    @BeforeAll
    static void train() throws IOException {
        statsFile = dir.resolve("run.dl4j");
        TinyRun.train(dir, List.of("--steps", "" + STEPS, "--workers", "" + WORKERS, "--averaging-frequency",
                "" + AVERAGING_FREQUENCY, "--ui-file", statsFile.toString()));
    }

    @Test
    void everyWorkerRecordsItsRoutingAndDl4jsStatisticsInOneSession() {
        FileStatsStorage storage = new FileStatsStorage(statsFile.toFile());
        try {
            List<String> sessions = storage.listSessionIDs();
            assertEquals(1, sessions.size(), sessions.toString());
            String session = sessions.get(0);
            List<String> statsWorkers = storage.listWorkerIDsForSessionAndType(session, STATS_LISTENER_TYPE);
            assertEquals(WORKERS, statsWorkers.size(), "StatsListener of every worker: " + statsWorkers);
            Map<String, List<Integer>> iterations = new TreeMap<>();
            Set<Long> timestamps = new HashSet<>();
            for (Persistable latest : storage.getLatestUpdateAllWorkers(session, RoutingRecord.TYPE_ID)) {
                String worker = latest.getWorkerID();
                List<Integer> its = new ArrayList<>();
                for (Persistable r : storage.getAllUpdatesAfter(session, RoutingRecord.TYPE_ID, worker, -1)) {
                    its.add(iteration((RoutingRecord) r));
                    timestamps.add(r.getTimeStamp());
                }
                iterations.put(worker, its);
            }
            assertEquals(STEPS, timestamps.size(), "one clock for every worker: no two records share a timestamp");
            assertEquals(statsWorkers.stream().sorted().collect(Collectors.toList()),
                    new ArrayList<>(iterations.keySet()), "routing and DL4J's statistics under the same worker ids");
            // a replica starts each round from the averaged model's configuration, iteration count included
            for (List<Integer> its : iterations.values()) {
                assertEquals(List.of(0, 1, 2, 3), its, iterations.toString());
            }
        } finally {
            storage.close();
        }
    }

    @Test
    void dl4jsUiAndTheRoutingDataShowEveryWorker() throws Exception {
        try (TrainingUi ui = TrainingUi.start(TrainingUi.DEFAULT_HOST, 0, statsFile)) {
            JsonNode sessions = JSON.readTree(Http.get(ui.url() + "/train/sessions/info"));
            assertEquals(1, sessions.size(), sessions.toString());
            assertEquals(WORKERS, sessions.elements().next().get("numWorkers").asInt(), sessions.toString());
            for (int worker = 0; worker < WORKERS; worker++) {
                Http.get(ui.url() + "/train/workers/setByIdx/" + worker);
                JsonNode overview = JSON.readTree(Http.get(ui.url() + "/train/overview/data"));
                assertEquals(STEPS / WORKERS, overview.get("scores").size(), "worker " + worker + ": " + overview);
            }

            JsonNode data = JSON.readTree(Http.get(ui.url() + RoutingModule.DATA_PATH));
            assertEquals(STEPS, data.get("records").size(), data.toString());
            Map<String, Long> perWorker = new TreeMap<>();
            for (JsonNode r : data.get("records")) {
                perWorker.merge(r.get("worker").asText(), 1L, Long::sum);
                assertTrue(r.get("moe").has(TinyRun.MOE_LAYER) && r.get("peer").has(TinyRun.PEER_LAYER), r.toString());
            }
            assertEquals(WORKERS, perWorker.size(), perWorker.toString());
            perWorker.values().forEach(n -> assertEquals(STEPS / WORKERS, n, perWorker.toString()));
        }
    }

    /** The finished run's page in headless Chromium: every chart has a series, and a legend entry, per worker. */
    @Test
    void chromiumDrawsASeriesPerWorker() throws Exception {
        RoutingPageBrowserTest.assumeChromium();
        String dom;
        try (TrainingUi ui = TrainingUi.start(TrainingUi.DEFAULT_HOST, 0, statsFile)) {
            dom = HeadlessChromium.dumpDom(ui.routingUrl(), dir);
        }
        assertTrue(dom.contains("data-workers=\"" + WORKERS + "\"") && dom.contains("data-rendered-records=\""
                + STEPS + "\""), dom);
        String moe = RoutingPageBrowserTest.section(dom, "moe", TinyRun.MOE_LAYER);
        String peer = RoutingPageBrowserTest.section(dom, "peer", TinyRun.PEER_LAYER);
        assertEquals(RoutingPageBrowserTest.MOE_CHARTS, RoutingPageBrowserTest.canvases(moe), dom);
        assertEquals(RoutingPageBrowserTest.PEER_CHARTS, RoutingPageBrowserTest.canvases(peer), dom);
        for (int worker = 0; worker < WORKERS; worker++) {
            String legend = "class=\"legendLabel\">worker " + worker + "<";
            assertEquals(RoutingPageBrowserTest.MOE_CHARTS, count(moe, legend), moe);
            assertEquals(RoutingPageBrowserTest.PEER_CHARTS, count(peer, legend), peer);
        }
    }

    private static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }

    private static int iteration(RoutingRecord record) {
        try {
            return JSON.readTree(record.json()).get("iteration").asInt();
        } catch (IOException e) {
            throw new AssertionError(record.json(), e);
        }
    }
}
