package io.github.dl4jmoe.examples;

import io.github.dl4jmoe.host.NativeMemoryListener;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.DataSet;

/**
 * What the training benchmarks ({@code bench lm}, {@code bench soak}) run: the examples' default
 * {@link MoETransformerLM} with one feed-forward kind, trained step by step on shuffled windows of a text, with the
 * listener {@code train} adds.
 *
 * @param network the model
 * @param windows the training windows, started over when they run out
 */
record BenchTraining(ComputationGraph network, CharacterIterator windows) {

    static BenchTraining of(FeedForwardKind kind, String text, CharacterVocabulary vocabulary, int context,
                            int batchSize) {
        ComputationGraph net = MoETransformerLM.builder().vocabularySize(vocabulary.size()).contextLength(context)
                .feedForward(kind).build().init();
        net.addListeners(new NativeMemoryListener(TrainCommand.RELEASE_MEMORY_EVERY));   // as train does
        CharacterIterator data = CharacterIterator.builder().text(text).vocabulary(vocabulary)
                .sequenceLength(context).batchSize(batchSize).shuffle(true).build();
        return new BenchTraining(net, data);
    }

    /** One step on the next batch; returns its characters. */
    long step() {
        if (!windows.hasNext()) {
            windows.reset();
        }
        DataSet batch = windows.next();
        network.fit(batch);
        return batch.getFeatures().length();
    }
}
