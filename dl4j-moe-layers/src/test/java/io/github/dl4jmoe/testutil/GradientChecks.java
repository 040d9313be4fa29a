package io.github.dl4jmoe.testutil;

import java.util.Set;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * Double-precision gradient checks the way DL4J's own SameDiff layer tests run them (TestSameDiffDense): double
 * default data types, a double network, the NoOp updater, central differences with epsilon 1e-6.
 */
public final class GradientChecks {

    public static final double EPSILON = 1e-6;
    public static final double MAX_REL_ERROR = 1e-3;
    public static final double MIN_ABS_ERROR = 1e-8;

    private GradientChecks() {
    }

    /** Call in {@code @BeforeEach}: gradient checks need double precision throughout. */
    public static void useDoublePrecision() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    /** A double-precision network configuration builder with the NoOp updater, ready for {@code .list()}. */
    public static NeuralNetConfiguration.Builder doubleNetwork(long seed) {
        return new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.DOUBLE)
                .updater(new NoOp())
                .weightInit(WeightInit.XAVIER);
    }

    public static boolean check(MultiLayerNetwork net, INDArray input, INDArray labels) {
        return check(net, input, labels, null, null);
    }

    public static boolean check(MultiLayerNetwork net, INDArray input, INDArray labels, INDArray inputMask,
                                INDArray labelMask) {
        return check(net, input, labels, inputMask, labelMask, Set.of());
    }

    /**
     * @param excluded parameters left out, as the network names them ({@code "1_expertBias"}): state stepped through
     *                 DL4J's updater, whose gradient slot holds a step signal rather than a gradient (DL4J's own tests
     *                 exclude BatchNormalization's running statistics the same way)
     */
    public static boolean check(MultiLayerNetwork net, INDArray input, INDArray labels, INDArray inputMask,
                                INDArray labelMask, Set<String> excluded) {
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig()
                .net(net)
                .input(input)
                .labels(labels)
                .inputMask(inputMask)
                .labelMask(labelMask)
                .epsilon(EPSILON)
                .maxRelError(MAX_REL_ERROR)
                .minAbsoluteError(MIN_ABS_ERROR)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY)
                .exitOnFirstError(false)
                .excludeParams(excluded));
    }
}
