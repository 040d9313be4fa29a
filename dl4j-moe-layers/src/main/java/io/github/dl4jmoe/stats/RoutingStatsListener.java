package io.github.dl4jmoe.stats;

import java.util.Map;
import java.util.function.Consumer;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@code TrainingListener} that reads the routing statistics of every MoE layer ({@link RoutingStatistics}) and
 * every PEER layer ({@link ExpertUsage}) every {@code frequency} iterations, from the training step that just
 * finished, and hands them to a sink (default: an INFO log line per layer). It only reads the layers' latest
 * statistics, so it runs next to DL4J's own listeners ({@code ScoreIterationListener}, {@code PerformanceListener},
 * the UI's {@code StatsListener}) without changing what they see.
 */
public class RoutingStatsListener extends BaseTrainingListener {

    private static final Logger LOG = LoggerFactory.getLogger(RoutingStatsListener.class);

    /**
     * Statistics of one iteration.
     *
     * @param moe  per MoE layer name
     * @param peer per PEER layer name
     */
    public record Snapshot(int iteration, int epoch, Map<String, RoutingStatistics> moe,
                           Map<String, ExpertUsage> peer) {
    }

    private final int frequency;
    private final Consumer<Snapshot> sink;
    private Snapshot latest;

    /** Logs the statistics every {@code frequency} iterations. */
    public RoutingStatsListener(int frequency) {
        this(frequency, RoutingStatsListener::log);
    }

    /** Hands the statistics to {@code sink} every {@code frequency} iterations. */
    public RoutingStatsListener(int frequency, Consumer<Snapshot> sink) {
        if (frequency < 1) {
            throw new IllegalArgumentException("RoutingStatsListener: frequency must be at least 1, got " + frequency);
        }
        this.frequency = frequency;
        this.sink = sink;
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        if (iteration % frequency != 0) {
            return;
        }
        latest = new Snapshot(iteration, epoch, RoutingStatistics.of(model), ExpertUsage.of(model));
        sink.accept(latest);
    }

    /** The latest snapshot, or null before the first. */
    public Snapshot latest() {
        return latest;
    }

    private static void log(Snapshot s) {
        s.moe().forEach((layer, stats) -> LOG.info("iteration {} {}: {}", s.iteration(), layer, stats));
        s.peer().forEach((layer, usage) -> LOG.info("iteration {} {}: {}", s.iteration(), layer, usage));
    }
}
