package io.github.dl4jmoe.upcycle;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.IntStream;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/** Upcycling a {@link MultiLayerNetwork}: layers by index; a DenseLayer pair is two consecutive layers. */
final class MultiLayerEdit implements NetworkEdit<Integer, MultiLayerNetwork> {

    private final MultiLayerNetwork dense;
    private final MultiLayerConfiguration conf;
    private final TreeSet<Integer> removed = new TreeSet<>();
    private MultiLayerNetwork upcycled;

    MultiLayerEdit(MultiLayerNetwork dense) {
        this.dense = dense;
        this.conf = MultiLayerConfiguration.fromJson(dense.getLayerWiseConfigurations().toJson());
    }

    @Override
    public List<Integer> keys() {
        return IntStream.range(0, dense.getnLayers()).boxed().toList();
    }

    @Override
    public org.deeplearning4j.nn.conf.layers.Layer config(Integer index) {
        if (index < 0 || index >= conf.getConfs().size()) {
            throw new IllegalArgumentException("Upcycler: no layer " + index + "; the network has "
                    + conf.getConfs().size() + " layers");
        }
        return conf.getConf(index).getLayer();
    }

    @Override
    public Integer secondOfPair(Integer first) {
        int second = first + 1;
        if (second >= conf.getConfs().size() || !(conf.getConf(second).getLayer() instanceof DenseLayer)) {
            throw Upcycler.notUpcyclable(describe(first), config(first));
        }
        if (conf.getInputPreProcess(second) != null) {
            throw new IllegalArgumentException("Upcycler: layer " + second + " has an input preprocessor; "
                    + "a DenseLayer pair must be two directly connected layers");
        }
        return second;
    }

    @Override
    public String describe(Integer index) {
        return "layer " + index;
    }

    @Override
    public void replace(Integer index, org.deeplearning4j.nn.conf.layers.Layer config) {
        conf.getConf(index).setLayer(config);
    }

    @Override
    public MultiLayerNetwork build(Map<Integer, Integer> pairs) {
        removed.addAll(pairs.values());
        for (int r : removed.descendingSet()) {
            conf.getConfs().remove(r);
            Map<Integer, InputPreProcessor> shifted = new HashMap<>();
            conf.getInputPreProcessors().forEach((i, p) -> shifted.put(i > r ? i - 1 : i, p));
            conf.setInputPreProcessors(shifted);
        }
        conf.setIterationCount(0);                  // a fresh updater: see Upcycler, "Continued training"
        conf.setEpochCount(0);
        upcycled = new MultiLayerNetwork(conf);
        upcycled.init();
        return upcycled;
    }

    @Override
    public Layer denseLayer(Integer index) {
        return dense.getLayer(index);
    }

    @Override
    public Layer upcycledLayer(Integer index) {
        return upcycled.getLayer(index - removed.headSet(index).size());
    }
}
