package io.github.dl4jmoe.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jmoe.ops.HiddenActivation;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@link FloatCdf} against ND4J's erf in double precision, and the exact GELU of {@link HiddenActivation} on FLOAT
 * arrays, which uses it on the CPU path, against the portable path (ND4J's erf).
 */
class FloatCdfTest {

    @AfterEach
    void defaultPath() {
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
    }

    @Test
    void erfIsWithinFloatRoundingOfTheDoublePrecisionErf() {
        int n = 24_001;
        double[] points = new double[n];
        for (int i = 0; i < n; i++) {
            points[i] = (float) (-6 + 12.0 * i / (n - 1));                    // float inputs, as the layers give
        }
        INDArray grid = Nd4j.createFromArray(points);
        INDArray reference = Nd4j.exec(new Erf(grid.dup()));
        double worst = 0;
        for (int i = 0; i < n; i++) {
            float x = (float) grid.getDouble(i);
            double exact = reference.getDouble(i);
            worst = Math.max(worst, Math.abs(FloatCdf.erf(x) - exact));
        }
        assertTrue(worst < 3e-7, "largest error " + worst);      // 2.5 float ulps of 1
        assertEquals(1f, FloatCdf.erf(Float.POSITIVE_INFINITY));
        assertEquals(-1f, FloatCdf.erf(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(FloatCdf.erf(Float.NaN)));
        assertEquals(0f, FloatCdf.erf(0f));
    }

    @Test
    void applyWritesTheNormalCdfOfEveryElementOfAView() {
        Nd4j.getRandom().setSeed(3);
        INDArray whole = Nd4j.randn(DataType.FLOAT, 9, 7).muli(3);
        INDArray x = whole.get(NDArrayIndex.interval(2, 7), NDArrayIndex.all());   // starts inside its buffer
        INDArray out = Nd4j.create(DataType.FLOAT, 5, 7);
        assertTrue(FloatCdf.serves(x, out));
        FloatCdf.apply(x, out);
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 7; j++) {
                double v = x.getDouble(i, j);
                double exact = 0.5 * (1 + Nd4j.exec(new Erf(Nd4j.scalar(v / Math.sqrt(2)))).getDouble(0));
                assertEquals(exact, out.getDouble(i, j), 2e-7, "element " + i + ", " + j);
            }
        }
    }

    @Test
    void servesOnlyFloatMatricesOnTheCpuPathAndSaysWhatItNeeds() {
        INDArray floats = Nd4j.ones(DataType.FLOAT, 2, 3);
        assertFalse(FloatCdf.serves(Nd4j.ones(DataType.DOUBLE, 2, 3), Nd4j.ones(DataType.DOUBLE, 2, 3)));
        assertFalse(FloatCdf.serves(floats, Nd4j.ones(DataType.FLOAT, 3, 2)));
        assertFalse(FloatCdf.serves(floats, floats.transpose().dup('f').transpose().dup('f')));
        System.setProperty(RowBuffer.FORCE_PORTABLE, "true");
        assertFalse(FloatCdf.serves(floats, floats));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FloatCdf.apply(floats, floats));
        assertTrue(e.getMessage().startsWith("FloatCdf: need two FLOAT row-major matrices of one shape on the CPU "
                + "backend"), e.getMessage());
    }

    @Test
    void exactGeluOnFloatsAgreesOnBothPaths() {
        Nd4j.getRandom().setSeed(5);
        INDArray up = Nd4j.randn(DataType.FLOAT, 64, 48).muli(2);
        INDArray gate = Nd4j.randn(DataType.FLOAT, 64, 48).muli(2);
        INDArray dHidden = Nd4j.randn(DataType.FLOAT, 64, 48);
        for (HiddenActivation activation : new HiddenActivation[] {HiddenActivation.GELU, HiddenActivation.GEGLU}) {
            INDArray[][] results = new INDArray[2][];
            for (int path = 0; path < 2; path++) {
                System.setProperty(RowBuffer.FORCE_PORTABLE, String.valueOf(path == 1));
                INDArray hidden = Nd4j.create(DataType.FLOAT, 64, 48);
                INDArray aux = Nd4j.create(DataType.FLOAT, 64, 48);
                INDArray dUp = Nd4j.create(DataType.FLOAT, 64, 48);
                INDArray dGate = Nd4j.create(DataType.FLOAT, 64, 48);
                activation.forward(up, gate, hidden, aux);
                activation.backward(up, gate, aux, dHidden, dUp, dGate, Nd4j.create(DataType.FLOAT, 64, 48));
                results[path] = new INDArray[] {hidden, dUp, dGate};
            }
            for (int k = 0; k < (activation.isGated() ? 3 : 2); k++) {
                double diff = results[0][k].sub(results[1][k]).amaxNumber().doubleValue();
                assertTrue(diff < 1e-5, activation + " output " + k + " differs by " + diff);
            }
        }
    }
}
