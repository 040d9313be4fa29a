package io.github.dl4jmoe.examples.ui;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.vertx.ext.web.RoutingContext;
import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.core.storage.StatsStorage;
import org.deeplearning4j.core.storage.StatsStorageEvent;
import org.deeplearning4j.ui.api.HttpMethod;
import org.deeplearning4j.ui.api.Route;
import org.deeplearning4j.ui.api.UIModule;
import org.deeplearning4j.ui.i18n.I18NResource;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import org.nd4j.shade.jackson.databind.node.ArrayNode;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/**
 * The routing page of DL4J's training UI, at {@value #PAGE_PATH}: per MoE layer the expert load (bars), experts per
 * token over iterations and dropped pairs, per PEER layer the used fraction and KL to uniform, drawn with the jQuery
 * and Flot the DL4J UI ships ({@code /assets/webjars/...}; nothing from the network), one series per worker when a
 * {@code ParallelWrapper} trains several. The page polls {@value #DATA_PATH} for the {@link RoutingRecord}s of the
 * newest session in the attached storages, asking only for those after the last one it has:
 * <pre>
 * GET /routing/data                        every record of the newest session
 * GET /routing/data?session=S&amp;after=T     the records of S stamped after T if S is still the newest session,
 *                                          else every record of the newest one
 * {"session": "S", "after": T, "last": L, "records": [{"worker": "0", "iteration": 40, ...}, ...]}
 * </pre>
 * {@code after} is -1 when the answer holds every record of the session (the page then starts over), {@code last} is
 * what the page passes as {@code after} next time, and records are in timestamp order. The answer holds exactly the
 * records stamped after {@code after} and up to {@code last}: {@link RoutingStorageListener} stores records in
 * timestamp order, so once the newest timestamp {@code last} is seen, every record before it is there too.
 * DL4J's storages have no index by time: an answer still walks the timestamps of the session's records, but reads and
 * sends only the new ones. A session counts once the storage lists it, which it does once {@code StatsListener} has
 * stored its static information (first thing in a run).
 *
 * <p>DL4J's server finds this module through {@code META-INF/services/org.deeplearning4j.ui.api.UIModule}.
 */
public final class RoutingModule implements UIModule {

    /** Where the page is served. */
    public static final String PAGE_PATH = "/routing";
    /** The page's data (see the class comment). */
    public static final String DATA_PATH = "/routing/data";
    /** Query parameter of {@value #DATA_PATH}: the session of the records the page has. */
    static final String SESSION = "session";
    /** Query parameter of {@value #DATA_PATH}: the {@code last} of the previous answer. */
    static final String AFTER = "after";
    /** {@code after} of an answer that holds every record of its session. */
    static final long EVERY_RECORD = -1;
    static final String SCRIPT_PATH = "/routing/routing.js";

    private static final String RESOURCES = "io/github/dl4jmoe/examples/ui/";
    private static final String CONTENT_TYPE = "content-type";
    private static final int BAD_REQUEST = 400;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<StatsStorage> storages = new CopyOnWriteArrayList<>();

    @Override
    public List<String> getCallbackTypeIDs() {
        return List.of(RoutingRecord.TYPE_ID);
    }

    @Override
    public List<Route> getRoutes() {
        return List.of(
                new Route(PAGE_PATH, HttpMethod.GET, (args, rc) -> send(rc, "routing.html", "text/html")),
                new Route(SCRIPT_PATH, HttpMethod.GET, (args, rc) -> send(rc, "routing.js", "text/javascript")),
                new Route(DATA_PATH, HttpMethod.GET, (args, rc) -> sendData(rc)));
    }

    private static void send(RoutingContext rc, String resource, String type) {
        rc.response().putHeader(CONTENT_TYPE, type + "; charset=utf-8").sendFile(RESOURCES + resource);
    }

    private void sendData(RoutingContext rc) {
        String after = rc.request().getParam(AFTER);
        long since;
        try {
            since = after == null ? EVERY_RECORD : Long.parseLong(after);
        } catch (NumberFormatException e) {
            rc.response().setStatusCode(BAD_REQUEST).putHeader(CONTENT_TYPE, "text/plain; charset=utf-8")
                    .end(DATA_PATH + ": " + AFTER + " must be the \"last\" of an earlier answer (a timestamp in "
                            + "milliseconds), got " + after);
            return;
        }
        rc.response().putHeader(CONTENT_TYPE, "application/json; charset=utf-8")
                .end(data(rc.request().getParam(SESSION), since));
    }

    /** The page reads the storages on each request, so events need no handling. */
    @Override
    public void reportStorageEvents(Collection<StatsStorageEvent> events) {
    }

    @Override
    public void onAttach(StatsStorage statsStorage) {
        storages.add(statsStorage);
    }

    @Override
    public void onDetach(StatsStorage statsStorage) {
        storages.remove(statsStorage);
    }

    @Override
    public List<I18NResource> getInternationalizationResources() {
        return List.of();
    }

    /** A session's newest routing record of each worker, in the storage that holds it. */
    private record Newest(StatsStorage storage, String session, List<Persistable> perWorker, long last) {
    }

    /**
     * The body of {@value #DATA_PATH}: the routing records of the session with the newest one, after {@code after}
     * if {@code session} is that session, else all of them.
     *
     * @param session the session of the page's records, or null
     * @param after   the {@code last} of the page's previous answer
     */
    String data(String session, long after) {
        ObjectNode answer = JSON.createObjectNode();
        ArrayNode records = JSON.createArrayNode();
        Newest newest = newestSession();
        long from = newest != null && newest.session().equals(session) ? after : EVERY_RECORD;
        long last = from;
        if (newest != null) {
            List<Persistable> found = new ArrayList<>();
            for (Persistable latest : newest.perWorker()) {
                String worker = latest.getWorkerID();
                newest.storage().getAllUpdatesAfter(newest.session(), RoutingRecord.TYPE_ID, worker, from).stream()
                        .filter(r -> r.getTimeStamp() <= newest.last()).forEach(found::add);
            }
            found.sort(Comparator.comparingLong(Persistable::getTimeStamp));
            for (Persistable r : found) {
                records.add(payload((RoutingRecord) r));
            }
            last = Math.max(from, newest.last());
        }
        answer.put(SESSION, newest == null ? null : newest.session());
        answer.put(AFTER, from);
        answer.put("last", last);
        answer.set("records", records);
        return answer.toString();
    }

    /** The session whose newest routing record is the newest of all, or null if no storage holds one. */
    private Newest newestSession() {
        Newest newest = null;
        for (StatsStorage storage : storages) {
            for (String id : storage.listSessionIDs()) {
                List<Persistable> perWorker = storage.getLatestUpdateAllWorkers(id, RoutingRecord.TYPE_ID);
                long last = perWorker.stream().mapToLong(Persistable::getTimeStamp).max().orElse(Long.MIN_VALUE);
                if (!perWorker.isEmpty() && (newest == null || last > newest.last())) {
                    newest = new Newest(storage, id, perWorker, last);
                }
            }
        }
        return newest;
    }

    /** The record's payload with its worker id. */
    private static ObjectNode payload(RoutingRecord record) {
        try {
            ObjectNode node = (ObjectNode) JSON.readTree(record.json());
            node.put("worker", record.getWorkerID());
            return node;
        } catch (IOException e) {
            throw new UncheckedIOException("RoutingRecord of " + record.getWorkerID() + " at "
                    + record.getTimeStamp() + ": payload is not JSON", e);
        }
    }
}
