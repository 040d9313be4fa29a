package io.github.dl4jmoe.examples.ui;

import java.io.Serializable;
import java.util.function.LongFunction;

import io.github.dl4jmoe.stats.RoutingStatsListener;
import org.deeplearning4j.core.storage.StatsStorageRouter;
import org.deeplearning4j.core.storage.listener.RoutingIterationListener;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;

/**
 * Writes the routing statistics {@link RoutingStatsListener} reads, every {@code frequency} iterations, as
 * {@link RoutingRecord}s into a DL4J storage (the one {@code StatsListener} writes to, under the same session id),
 * where the routing page ({@link RoutingModule}) reads them.
 *
 * <p>A {@link RoutingIterationListener}, like DL4J's {@code StatsListener}, so that DL4J's {@code ParallelWrapper}
 * gives each worker thread a {@link #clone()} with the worker's id ({@code <wrapper uuid>_thread_<n>}) and the same
 * session and storage: every worker's replica reports its own routing. A listener and its clones share one clock:
 * timestamps are unique and increasing across workers, and records reach the storage in timestamp order, so a reader
 * that has seen timestamp T has seen every record up to T ({@link RoutingModule} relies on it to answer only what is
 * new).
 */
public final class RoutingStorageListener extends BaseTrainingListener implements RoutingIterationListener {

    private static final long serialVersionUID = 1L;

    /** Worker id of the records of a run on one worker (a {@code ParallelWrapper} sets its own on each clone). */
    public static final String WORKER_ID = "0";

    private final int frequency;
    private final Clock clock;
    private final RoutingStatsListener reader;
    private StatsStorageRouter router;
    private String sessionId;
    private String workerId;

    public RoutingStorageListener(StatsStorageRouter router, String sessionId, int frequency) {
        this(router, sessionId, WORKER_ID, frequency, new Clock());
    }

    private RoutingStorageListener(StatsStorageRouter router, String sessionId, String workerId, int frequency,
                                   Clock clock) {
        this.router = router;
        this.sessionId = sessionId;
        this.workerId = workerId;
        this.frequency = frequency;
        this.clock = clock;
        reader = new RoutingStatsListener(frequency,
                snapshot -> clock.put(this.router, t -> RoutingRecord.of(this.sessionId, this.workerId, t, snapshot)));
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        reader.iterationDone(model, iteration, epoch);
    }

    /** A listener for another worker: same storage, session, frequency and clock; its own statistics reader. */
    @Override
    public RoutingStorageListener clone() {
        return new RoutingStorageListener(router, sessionId, workerId, frequency, clock);
    }

    @Override
    public void setStorageRouter(StatsStorageRouter router) {
        this.router = router;
    }

    @Override
    public StatsStorageRouter getStorageRouter() {
        return router;
    }

    @Override
    public void setWorkerID(String workerId) {
        this.workerId = workerId;
    }

    @Override
    public String getWorkerID() {
        return workerId;
    }

    @Override
    public void setSessionID(String sessionId) {
        this.sessionId = sessionId;
    }

    @Override
    public String getSessionID() {
        return sessionId;
    }

    /**
     * Storages key updates by timestamp: two records of one worker in the same millisecond must not overwrite each
     * other. Stamping and storing under one lock keeps the storage's records in timestamp order across workers.
     */
    private static final class Clock implements Serializable {
        private static final long serialVersionUID = 1L;

        private long last;

        synchronized void put(StatsStorageRouter router, LongFunction<RoutingRecord> record) {
            last = Math.max(System.currentTimeMillis(), last + 1);
            router.putUpdate(record.apply(last));
        }
    }
}
