package io.github.dl4jmoe.runtime;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/** The walk from a model to its layers, written once for the statistics, the parameter step and the reports. */
public final class ModelLayers {

    private ModelLayers() {
    }

    /**
     * The layers of a {@code MultiLayerNetwork} (in order) or a {@code ComputationGraph} (in DL4J's topological
     * order); empty for any other model.
     */
    public static List<Layer> of(Model model) {
        if (model instanceof MultiLayerNetwork net) {
            return List.of(net.getLayers());
        }
        if (model instanceof ComputationGraph graph) {
            return List.of(graph.getLayers());
        }
        return List.of();
    }

    /**
     * {@link #of} keyed by layer name (DL4J names the unnamed layers of a {@code MultiLayerNetwork} "layer0",
     * "layer1", ...), in the same order.
     */
    public static Map<String, Layer> byName(Model model) {
        Map<String, Layer> named = new LinkedHashMap<>();
        for (Layer layer : of(model)) {
            named.put(name(layer), layer);
        }
        return named;
    }

    /** A layer's configured name. */
    public static String name(Layer layer) {
        return layer.conf().getLayer().getLayerName();
    }
}
