package io.github.dl4jmoe.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;

/** What a layer's graph definition is told when it writes a state it does not have, or writes one twice. */
class LayerGraphTest {

    @Test
    void stateWritesNameTheParameterAndTheStateThereIs() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.DOUBLE, -1, 2);
        SDVariable bias = sd.var("bias", DataType.DOUBLE, 1, 2);
        LayerGraph g = new LayerGraph(sd, x, Map.of("W", sd.var("W", DataType.DOUBLE, 2, 2), "bias", bias),
                Set.of("bias"), () -> sd.constant(true), "TestLayer 'probe'");

        IllegalStateException update = assertThrows(IllegalStateException.class, () -> g.updateState("W", bias));
        assertEquals("TestLayer 'probe': cannot update 'W', not a state parameter; state: [bias]",
                update.getMessage());
        IllegalStateException gradient = assertThrows(IllegalStateException.class,
                () -> g.stateGradient("W", bias));
        assertEquals("TestLayer 'probe': cannot write a gradient for 'W', not a state parameter; state: [bias]",
                gradient.getMessage());

        g.stateGradient("bias", bias);
        IllegalStateException twice = assertThrows(IllegalStateException.class, () -> g.stateGradient("bias", bias));
        assertEquals("TestLayer 'probe': state gradient 'bias' declared twice", twice.getMessage());
    }
}
