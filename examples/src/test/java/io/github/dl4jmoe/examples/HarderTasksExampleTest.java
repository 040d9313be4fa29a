package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import picocli.CommandLine;

class HarderTasksExampleTest {

    private static final int EXPERTS = 4;

    @Test
    void tinyRunGivesSaneAccuraciesAndExpertCounts() {
        HarderTasksExample example = new HarderTasksExample();
        new CommandLine(example).parseArgs("--epochs", "1", "--train-examples", "64", "--test-examples", "32",
                "--batch-size", "32", "--experts", String.valueOf(EXPERTS), "--expert-hidden", "4", "--d-model", "8",
                "--seed", "3");
        HarderTasksExample.Result r = example.run();
        for (double accuracy : new double[] {r.easyAccuracy(), r.hardAccuracy()}) {
            assertTrue(accuracy >= 0 && accuracy <= 1, r.toString());
        }
        for (double mean : new double[] {r.easyMeanExperts(), r.hardMeanExperts(), r.initialEasyMeanExperts(),
                r.initialHardMeanExperts()}) {
            assertTrue(mean >= 1 && mean <= EXPERTS, "top-p keeps 1..E experts per token: " + r);
        }
    }

    @Test
    void easyExamplesAreSeparatedByFeatureZeroAndHardOnesByTheSignOfX1X2X3() {
        DataSet easy = HarderTasksExample.examples(new Random(1), 200, false);
        DataSet hard = HarderTasksExample.examples(new Random(1), 200, true);
        assertArrayEquals(new long[] {200, HarderTasksExample.FEATURES}, easy.getFeatures().shape());
        assertArrayEquals(new long[] {200, HarderTasksExample.CLASSES}, hard.getLabels().shape());
        int hardAgreeWithObservedProduct = 0;
        for (int i = 0; i < 200; i++) {
            INDArray x = easy.getFeatures().getRow(i);
            int label = easy.getLabels().getRow(i).argMax().getInt(0);
            assertTrue(Math.abs(x.getDouble(0)) >= HarderTasksExample.EASY_OFFSET, "wide margin");
            assertEquals(x.getDouble(0) > 0 ? 1 : 0, label, "the sign of feature 0 is the easy class");
            INDArray h = hard.getFeatures().getRow(i);
            assertTrue(Math.abs(h.getDouble(0)) < HarderTasksExample.EASY_OFFSET / 2, "feature 0 tells nothing");
            int observed = h.getDouble(1) * h.getDouble(2) * h.getDouble(3) > 0 ? 1 : 0;
            if (observed == hard.getLabels().getRow(i).argMax().getInt(0)) {
                hardAgreeWithObservedProduct++;
            }
        }
        assertTrue(hardAgreeWithObservedProduct > 150 && hardAgreeWithObservedProduct < 200,
                "observation noise flips a few hard examples near the boundary: " + hardAgreeWithObservedProduct);
    }

    @Test
    void invalidThresholdIsAUsageErrorNamingValueAndFix() {
        CommandLine cl = MoeExamples.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        assertEquals(2, cl.execute("harder-tasks", "--threshold", "1.5", "--epochs", "1"));
        assertTrue(err.toString().contains("--threshold must be in (0, 1], got 1.5 (the paper uses 0.4)"),
                err.toString());
    }
}
