package io.github.dl4jmoe.examples.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.github.dl4jmoe.examples.UiCommand;
import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import picocli.CommandLine;

/**
 * {@code train --ui --ui-file} records DL4J's statistics and ours in one session of a file storage; reopened, the file
 * serves the routing page and its data ({@code RoutingPageBrowserTest} draws the page of a live run in a browser).
 */
class TrainingUiTest {

    private static final String STATS_LISTENER_TYPE = "StatsListener";

    @TempDir
    static Path dir;
    private static Path statsFile;
    private static String printed;

    @BeforeAll
    static void train() throws IOException {
        statsFile = dir.resolve("run.dl4j");
        printed = TinyRun.train(dir, statsFile);
    }

    @Test
    void printsTheAddressAndThatOnlyThisMachineCanReachIt() {
        assertTrue(Pattern.compile("training UI \\(until training ends\\): http://127\\.0\\.0\\.1:\\d+/train  "
                + "routing: http://127\\.0\\.0\\.1:\\d+/routing").matcher(printed).find(), printed);
        assertTrue(printed.contains("the UI listens on the loopback interface only (this machine); --ui-host to "
                + "change"), printed);
    }

    @Test
    void fileHoldsStatsListenerAndRoutingRecordsOfOneSession() throws IOException {
        FileStatsStorage storage = new FileStatsStorage(statsFile.toFile());
        try {
            List<String> sessions = storage.listSessionIDs();
            assertEquals(1, sessions.size(), sessions.toString());
            String session = sessions.get(0);
            assertTrue(storage.listTypeIDsForSession(session).contains(STATS_LISTENER_TYPE),
                    storage.listTypeIDsForSession(session).toString());
            List<Persistable> routing = storage.getAllUpdatesAfter(session, RoutingRecord.TYPE_ID,
                    RoutingStorageListener.WORKER_ID, -1);
            assertEquals(TinyRun.STEPS, routing.size());
            JsonNode last = new ObjectMapper().readTree(((RoutingRecord) routing.get(TinyRun.STEPS - 1)).json());
            JsonNode moe = last.get("moe").get(TinyRun.MOE_LAYER);
            long load = 0;
            for (JsonNode l : moe.get("load")) {
                load += l.asLong();
            }
            assertTrue(load > 0 && load >= moe.get("tokens").asLong(), "every token selects an expert: " + moe);
            double used = last.get("peer").get(TinyRun.PEER_LAYER).get("usedFraction").asDouble();
            assertTrue(used > 0 && used <= 1, "used fraction " + used);
        } finally {
            storage.close();
        }
    }

    @Test
    void reopenedFileServesTheRoutingPageItsDataAndDl4jsCharting() throws Exception {
        try (TrainingUi ui = TrainingUi.start(TrainingUi.DEFAULT_HOST, 0, statsFile)) {
            String data = Http.get(ui.url() + RoutingModule.DATA_PATH);
            JsonNode records = new ObjectMapper().readTree(data).get("records");
            assertEquals(TinyRun.STEPS, records.size(), data);
            assertTrue(records.get(0).get("moe").has(TinyRun.MOE_LAYER), data);
            assertTrue(Http.get(ui.routingUrl()).contains("<script src=\"/routing/routing.js\"></script>"));
            assertTrue(Http.get(ui.url() + RoutingModule.SCRIPT_PATH).contains("$.plot("));
            Matcher scripts = Pattern.compile("src=\"(/assets/webjars/[^\"]+)\"").matcher(Http.get(ui.routingUrl()));
            int found = 0;
            while (scripts.find()) {
                assertTrue(Http.get(ui.url() + scripts.group(1)).length() > 0, scripts.group(1));
                found++;
            }
            assertEquals(2, found, "jQuery and Flot from DL4J's webjars");
        }
    }

    @Test
    void uiCommandServesTheFinishedRun() throws Exception {
        UiCommand command = new UiCommand();
        new CommandLine(command).parseArgs("--file", statsFile.toString(), "--port", "0");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (TrainingUi ui = command.open(new PrintStream(log, true, StandardCharsets.UTF_8))) {
            String data = Http.get(ui.url() + RoutingModule.DATA_PATH);
            assertEquals(TinyRun.STEPS, new ObjectMapper().readTree(data).get("records").size(), data);
            assertEquals("training UI: " + ui.url() + "/train  routing: " + ui.routingUrl() + System.lineSeparator()
                    + "the UI listens on the loopback interface only (this machine); --host to change"
                    + System.lineSeparator(), log.toString(StandardCharsets.UTF_8));
        }
    }
}
