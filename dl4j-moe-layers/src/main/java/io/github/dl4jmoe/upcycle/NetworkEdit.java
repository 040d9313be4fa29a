package io.github.dl4jmoe.upcycle;

import java.util.List;
import java.util.Map;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;

/**
 * The network-specific half of upcycling ({@link Upcycler} holds the algorithm): where a network keeps its layers,
 * how the second layer of a DenseLayer pair is found, and how the edited configuration becomes a network. It works
 * on a copy of the dense network's configuration; the dense network is never changed.
 *
 * @param <K> how the network names a layer (index or vertex name)
 * @param <N> the network type
 */
interface NetworkEdit<K, N extends Model> {

    /** Every layer of the dense network, in its order. */
    List<K> keys();

    /** The layer config at {@code key} in the configuration being edited. */
    org.deeplearning4j.nn.conf.layers.Layer config(K key);

    /**
     * The DenseLayer that, with the DenseLayer at {@code first}, forms a feed-forward block d -> dFf -> d.
     *
     * @throws IllegalArgumentException naming what is wrong when there is no such layer
     */
    K secondOfPair(K first);

    /** "layer 3", "vertex 'ffn'": how messages name a layer. */
    String describe(K key);

    void replace(K key, org.deeplearning4j.nn.conf.layers.Layer config);

    /** Removes the second layer of each pair ({@code first -> second}) and builds the initialised network. */
    N build(Map<K, K> pairs);

    /** The dense network's layer at {@code key}. */
    Layer denseLayer(K key);

    /** The built network's layer that {@code key} became; call after {@link #build}. */
    Layer upcycledLayer(K key);
}
