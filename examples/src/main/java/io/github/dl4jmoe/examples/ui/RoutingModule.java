package io.github.dl4jmoe.examples.ui;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;

import io.vertx.ext.web.RoutingContext;
import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.core.storage.StatsStorage;
import org.deeplearning4j.core.storage.StatsStorageEvent;
import org.deeplearning4j.ui.api.HttpMethod;
import org.deeplearning4j.ui.api.Route;
import org.deeplearning4j.ui.api.UIModule;
import org.deeplearning4j.ui.i18n.I18NResource;

/**
 * The routing page of DL4J's training UI, at {@value #PAGE_PATH}: per MoE layer the expert load (bars), experts per
 * token over iterations and dropped pairs, per PEER layer the used fraction and KL to uniform, drawn with the jQuery
 * and Flot the DL4J UI ships ({@code /assets/webjars/...}; nothing from the network). The page polls
 * {@value #DATA_PATH}, the {@link RoutingRecord}s of the newest session in the attached storages.
 *
 * <p>DL4J's server finds this module through {@code META-INF/services/org.deeplearning4j.ui.api.UIModule}.
 */
public final class RoutingModule implements UIModule {

    /** Where the page is served. */
    public static final String PAGE_PATH = "/routing";
    /** JSON {@code {"session": id, "records": [payload, ...]}}, records in time order. */
    public static final String DATA_PATH = "/routing/data";
    static final String SCRIPT_PATH = "/routing/routing.js";

    private static final String RESOURCES = "io/github/dl4jmoe/examples/ui/";
    private static final String CONTENT_TYPE = "content-type";

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
                new Route(DATA_PATH, HttpMethod.GET, (args, rc) -> rc.response()
                        .putHeader(CONTENT_TYPE, "application/json; charset=utf-8").end(data())));
    }

    private static void send(RoutingContext rc, String resource, String type) {
        rc.response().putHeader(CONTENT_TYPE, type + "; charset=utf-8").sendFile(RESOURCES + resource);
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

    /** The body of {@value #DATA_PATH}: the routing records of the session with the newest one. */
    String data() {
        List<Persistable> newest = List.of();
        String session = null;
        for (StatsStorage storage : storages) {
            for (String id : storage.listSessionIDs()) {
                List<Persistable> records = storage.getAllUpdatesAfter(id, RoutingRecord.TYPE_ID,
                        RoutingStorageListener.WORKER_ID, -1);
                if (!records.isEmpty() && (newest.isEmpty() || last(records) > last(newest))) {
                    newest = records;
                    session = id;
                }
            }
        }
        String records = newest.stream().sorted(Comparator.comparingLong(Persistable::getTimeStamp))
                .map(r -> ((RoutingRecord) r).json()).collect(Collectors.joining(","));
        return "{\"session\":" + (session == null ? "null" : "\"" + session + "\"") + ",\"records\":[" + records
                + "]}";
    }

    private static long last(List<Persistable> records) {
        return records.stream().mapToLong(Persistable::getTimeStamp).max().orElse(Long.MIN_VALUE);
    }
}
