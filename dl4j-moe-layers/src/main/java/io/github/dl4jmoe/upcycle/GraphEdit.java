package io.github.dl4jmoe.upcycle;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * Upcycling a {@link ComputationGraph}: layers by vertex name; a DenseLayer pair is a DenseLayer vertex whose only
 * consumer is another DenseLayer reading nothing else, and becomes one vertex under the first name.
 */
final class GraphEdit implements NetworkEdit<String, ComputationGraph> {

    private final ComputationGraph dense;
    private final ComputationGraphConfiguration conf;
    private ComputationGraph upcycled;

    GraphEdit(ComputationGraph dense) {
        this.dense = dense;
        this.conf = ComputationGraphConfiguration.fromJson(dense.getConfiguration().toJson());
    }

    @Override
    public List<String> keys() {
        return Stream.of(dense.getLayers()).map(l -> l.conf().getLayer().getLayerName()).toList();
    }

    @Override
    public org.deeplearning4j.nn.conf.layers.Layer config(String name) {
        if (!(conf.getVertices().get(name) instanceof LayerVertex vertex)) {
            throw new IllegalArgumentException("Upcycler: no layer vertex '" + name + "'");
        }
        return vertex.getLayerConf().getLayer();
    }

    @Override
    public String secondOfPair(String first) {
        List<String> consumers = conf.getVertexInputs().entrySet().stream()
                .filter(e -> e.getValue().contains(first)).map(Map.Entry::getKey).toList();
        boolean pair = consumers.size() == 1 && !conf.getNetworkOutputs().contains(first)
                && conf.getVertexInputs().get(consumers.get(0)).equals(List.of(first))
                && conf.getVertices().get(consumers.get(0)) instanceof LayerVertex v
                && v.getLayerConf().getLayer() instanceof DenseLayer && v.getPreProcessor() == null;
        if (!pair) {
            throw new IllegalArgumentException("Upcycler: DenseLayer vertex '" + first + "' is not the first of a "
                    + "pair: its only consumer must be a DenseLayer that reads nothing else (consumers: " + consumers
                    + ")");
        }
        return consumers.get(0);
    }

    @Override
    public String describe(String name) {
        return "vertex '" + name + "'";
    }

    @Override
    public void replace(String name, org.deeplearning4j.nn.conf.layers.Layer config) {
        ((LayerVertex) conf.getVertices().get(name)).getLayerConf().setLayer(config);
    }

    @Override
    public ComputationGraph build(Map<String, String> pairs) {
        pairs.forEach((first, second) -> {
            conf.getVertices().remove(second);
            conf.getVertexInputs().remove(second);
            conf.getVertexInputs().replaceAll((v, in) -> in.stream().map(n -> n.equals(second) ? first : n).toList());
            conf.setNetworkOutputs(conf.getNetworkOutputs().stream().map(n -> n.equals(second) ? first : n).toList());
        });
        if (!pairs.isEmpty()) {                                     // the cached order names removed vertices
            conf.setTopologicalOrder(null);
            conf.setTopologicalOrderStr(null);
        }
        conf.setIterationCount(0);                  // a fresh updater: see Upcycler, "Continued training"
        conf.setEpochCount(0);
        upcycled = new ComputationGraph(conf);
        upcycled.init();
        return upcycled;
    }

    @Override
    public Layer denseLayer(String name) {
        return dense.getLayer(name);
    }

    @Override
    public Layer upcycledLayer(String name) {
        return upcycled.getLayer(name);
    }
}
