package io.github.dl4jmoe.examples.ui;

import io.github.dl4jmoe.stats.RoutingStatsListener;
import org.deeplearning4j.core.storage.StatsStorageRouter;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;

/**
 * Writes the routing statistics {@link RoutingStatsListener} reads, every {@code frequency} iterations, as
 * {@link RoutingRecord}s into a DL4J storage (the one {@code StatsListener} writes to, under the same session id),
 * where the routing page ({@link RoutingModule}) reads them.
 */
public final class RoutingStorageListener extends BaseTrainingListener {

    /** Worker id of the records: {@code train --ui} trains on one worker. */
    public static final String WORKER_ID = "0";

    private final RoutingStatsListener reader;
    private long lastTimestamp;

    public RoutingStorageListener(StatsStorageRouter router, String sessionId, int frequency) {
        reader = new RoutingStatsListener(frequency,
                snapshot -> router.putUpdate(RoutingRecord.of(sessionId, WORKER_ID, nextTimestamp(), snapshot)));
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        reader.iterationDone(model, iteration, epoch);
    }

    /** Storages key updates by timestamp: two records in the same millisecond must not overwrite each other. */
    private long nextTimestamp() {
        lastTimestamp = Math.max(System.currentTimeMillis(), lastTimestamp + 1);
        return lastTimestamp;
    }
}
