package io.github.dl4jmoe.examples.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * {@value RoutingModule#DATA_PATH} answers the page's first request with every record of the newest session and each
 * later one ({@code session}, {@code after}) with only the records stamped since, across workers, without a gap.
 */
class RoutingModuleTest {

    private static final String SESSION = "s1";
    private static final String NEWER_SESSION = "s2";
    private static final String WORKER = RoutingStorageListener.WORKER_ID;
    private static final String OTHER_WORKER = "run_thread_1";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final InMemoryStatsStorage storage = new InMemoryStatsStorage();
    private final RoutingModule module = new RoutingModule();

    @BeforeEach
    void attach() {
        module.onAttach(storage);
    }

    @Test
    void withoutRecordsTheAnswerIsEmpty() {
        assertEquals("{\"session\":null,\"after\":-1,\"last\":-1,\"records\":[]}",
                module.data(null, RoutingModule.EVERY_RECORD));
        assertEquals("{\"session\":null,\"after\":-1,\"last\":-1,\"records\":[]}", module.data(SESSION, 5));
    }

    @Test
    void firstEveryRecordThenOnlyTheNewOnes() throws IOException {
        put(storage, SESSION, WORKER, 10, 0);
        put(storage, SESSION, WORKER, 11, 1);
        put(storage, SESSION, WORKER, 12, 2);
        JsonNode first = answer(null, RoutingModule.EVERY_RECORD);
        assertAnswer(first, SESSION, RoutingModule.EVERY_RECORD, 12, List.of(WORKER + "@0", WORKER + "@1",
                WORKER + "@2"));

        assertAnswer(answer(SESSION, 12), SESSION, 12, 12, List.of());
        put(storage, SESSION, WORKER, 13, 3);
        put(storage, SESSION, WORKER, 14, 4);
        assertAnswer(answer(SESSION, 12), SESSION, 12, 14, List.of(WORKER + "@3", WORKER + "@4"));
        assertAnswer(answer(SESSION, 13), SESSION, 13, 14, List.of(WORKER + "@4"));
    }

    @Test
    void recordsOfEveryWorkerInTimestampOrder() throws IOException {
        put(storage, SESSION, WORKER, 20, 0);
        put(storage, SESSION, OTHER_WORKER, 21, 0);
        put(storage, SESSION, WORKER, 22, 1);
        put(storage, SESSION, OTHER_WORKER, 23, 1);
        assertAnswer(answer(null, RoutingModule.EVERY_RECORD), SESSION, RoutingModule.EVERY_RECORD, 23,
                List.of(WORKER + "@0", OTHER_WORKER + "@0", WORKER + "@1", OTHER_WORKER + "@1"));
        assertAnswer(answer(SESSION, 21), SESSION, 21, 23, List.of(WORKER + "@1", OTHER_WORKER + "@1"));
    }

    @Test
    void anotherSessionOrANewerOneIsAnsweredInFull() throws IOException {
        put(storage, SESSION, WORKER, 30, 0);
        put(storage, SESSION, WORKER, 31, 1);
        assertAnswer(answer("gone", 31), SESSION, RoutingModule.EVERY_RECORD, 31, List.of(WORKER + "@0",
                WORKER + "@1"));
        put(storage, NEWER_SESSION, WORKER, 40, 0);
        assertAnswer(answer(SESSION, 31), NEWER_SESSION, RoutingModule.EVERY_RECORD, 40, List.of(WORKER + "@0"));
    }

    /**
     * A record stored while an answer is being put together (here: after the newest timestamp was taken, before a
     * worker's records are read) is left out, and the next answer, after the {@code last} of this one, has it.
     */
    @Test
    void aRecordStoredDuringAnAnswerComesInTheNextOne() throws IOException {
        InMemoryStatsStorage racing = new InMemoryStatsStorage() {
            private boolean raced;

            @Override
            public List<Persistable> getAllUpdatesAfter(String session, String type, String worker, long after) {
                if (!raced) {
                    raced = true;
                    put(this, SESSION, OTHER_WORKER, 52, 1);
                }
                return super.getAllUpdatesAfter(session, type, worker, after);
            }
        };
        put(racing, SESSION, WORKER, 50, 0);
        put(racing, SESSION, OTHER_WORKER, 51, 0);
        RoutingModule racingModule = new RoutingModule();
        racingModule.onAttach(racing);
        JsonNode first = JSON.readTree(racingModule.data(null, RoutingModule.EVERY_RECORD));
        assertAnswer(first, SESSION, RoutingModule.EVERY_RECORD, 51, List.of(WORKER + "@0", OTHER_WORKER + "@0"));
        assertAnswer(JSON.readTree(racingModule.data(SESSION, 51)), SESSION, 51, 52, List.of(OTHER_WORKER + "@1"));
    }

    @Test
    void theServerPassesTheParametersAndRefusesAnAfterThatIsNoTimestamp() throws Exception {
        try (TrainingUi ui = TrainingUi.start(TrainingUi.DEFAULT_HOST, 0, null)) {
            String data = ui.url() + RoutingModule.DATA_PATH;
            assertEquals("{\"session\":null,\"after\":-1,\"last\":-1,\"records\":[]}", Http.get(data));
            assertEquals("{\"session\":null,\"after\":-1,\"last\":-1,\"records\":[]}", Http.get(data + "?session="
                    + URLEncoder.encode("a b", StandardCharsets.UTF_8) + "&after=7"));
            HttpResponse<String> bad = Http.send(data + "?session=s&after=yesterday");
            assertEquals(400, bad.statusCode());
            assertEquals("/routing/data: after must be the \"last\" of an earlier answer (a timestamp in "
                    + "milliseconds), got yesterday", bad.body());
        }
    }

    private JsonNode answer(String session, long after) throws IOException {
        return JSON.readTree(module.data(session, after));
    }

    private static void assertAnswer(JsonNode answer, String session, long after, long last,
                                     List<String> workerAtIteration) {
        assertEquals(session, answer.get("session").asText(), answer.toString());
        assertEquals(after, answer.get("after").asLong(), answer.toString());
        assertEquals(last, answer.get("last").asLong(), answer.toString());
        List<String> records = new ArrayList<>();
        for (JsonNode r : answer.get("records")) {
            records.add(r.get("worker").asText() + "@" + r.get("iteration").asInt());
        }
        assertEquals(workerAtIteration, records, answer.toString());
    }

    /**
     * Stores a routing record of {@code iteration}; a session's first record also goes in as static information, as
     * {@code StatsListener}'s does first thing in a run: DL4J's storages list a session only once it has some.
     */
    private static void put(InMemoryStatsStorage storage, String session, String worker, long timestamp,
                            int iteration) {
        RoutingRecord record = new RoutingRecord(session, worker, timestamp, "{\"iteration\":" + iteration
                + ",\"epoch\":0,\"moe\":{},\"peer\":{}}");
        if (!storage.sessionExists(session)) {
            storage.putStaticInfo(record);
        }
        storage.putUpdate(record);
    }
}
