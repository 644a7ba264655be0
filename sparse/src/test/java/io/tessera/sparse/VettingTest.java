package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VettingTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** The caller's metric: here the float64 sum of tensor "a". */
    private static final ToDoubleFunction<Map<String, Tensor>> SUM_OF_A = model -> {
        double s = 0;
        for (float v : model.get("a").toFloatArray()) {
            s += v;
        }
        return s;
    };

    private static Map<String, Tensor> model(float[] a, float[] b, float[] c) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("a", Tensor.of(a, 50, 20));
        m.put("b", Tensor.of(b, 30));
        m.put("c", Tensor.of(c, 10, 10));
        return m;
    }

    private static float[] random(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return v;
    }

    @Test
    void reportsSizesNormsMetricsAndEveryFlag() throws Exception {
        SplittableRandom rng = new SplittableRandom(1);
        float[] a = random(rng, 1000);
        float[] b = random(rng, 30);
        float[] c = random(rng, 100);
        float[] a2 = a.clone();
        float[] b2 = b.clone();
        float[] c2 = c.clone();
        double l2a = 0;
        double maxa = 0;
        for (int i = 0; i < 40; i++) {
            int at = 25 * i;
            a2[at] += (float) (0.01 * (rng.nextDouble() * 2 - 1));
            double d = (double) a2[at] - a[at];
            l2a += d * d;
            maxa = Math.max(maxa, Math.abs(d));
        }
        for (int i = 0; i < 5; i++) {
            b2[6 * i] += 0.01f;
        }
        for (int i = 0; i < 10; i++) {
            c2[10 * i] += 10f;          // a hundred times the others' change: an outlier
        }
        c2[99] = Float.NaN;             // and one non-finite value
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = model(a, b, c);
            Map<String, Tensor> tuned = model(a2, b2, c2);
            Path file = dir.resolve("contribution.patch");
            Patch.diff(base, tuned, "contribution").save(file, Compression.ZSTD);

            VetReport report = Vetting.report(base, file, SUM_OF_A, VetPolicy.DEFAULT.withFrozen(Set.of("b")));
            assertTrue(report.appliesCleanly() && report.baseMatches());
            assertEquals(Files.size(file), report.bytesOnDisk());
            assertEquals(List.of("a", "b", "c"), report.tensors().stream().map(VetReport.TensorChange::name).toList());
            VetReport.TensorChange ta = report.tensors().get(0);
            assertEquals(40, ta.entries());
            assertEquals(1000, ta.numel());
            assertEquals(Math.sqrt(l2a), ta.l2(), 1e-12);
            assertEquals(maxa, ta.maxAbs(), 1e-12);
            assertEquals(11, report.tensors().get(2).entries());
            assertEquals(1, report.tensors().get(2).nonFinite());
            assertFalse(report.allFinite());
            assertEquals(SUM_OF_A.applyAsDouble(base), report.metricBefore());
            assertEquals(SUM_OF_A.applyAsDouble(tuned), report.metricAfter());
            assertEquals(List.of(VetReport.FlagKind.FROZEN, VetReport.FlagKind.NON_FINITE, VetReport.FlagKind.NORM_OUTLIER),
                    report.flags().stream().map(VetReport.Flag::kind).toList(), "per-tensor flags, outliers last");
            assertEquals(List.of("b", "c", "c"), report.flags().stream().map(VetReport.Flag::tensor).toList());
            String text = report.format();
            assertTrue(text.contains("56 entries in 3 tensors"), text);
            assertTrue(text.contains("FLAG NORM_OUTLIER"), text);
        }
    }

    @Test
    void aCleanPatchRaisesNoFlagAndAWrongBaseIsNotEvaluated() throws Exception {
        SplittableRandom rng = new SplittableRandom(2);
        float[] a = random(rng, 1000);
        float[] b = random(rng, 30);
        float[] c = random(rng, 100);
        float[] a2 = a.clone();
        a2[3] += 0.5f;
        float[] b2 = b.clone();
        b2[7] -= 0.25f;
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = model(a, b, c);
            Path file = dir.resolve("clean.patch");
            Patch.diff(base, model(a2, b2, c), "clean").save(file, Compression.NONE);
            VetReport clean = Vetting.report(base, file, SUM_OF_A);
            assertTrue(clean.clean(), clean.format());
            assertEquals(2, clean.entries());

            float[] other = a.clone();
            other[0] = 42;
            Map<String, Tensor> wrongBase = model(other, b, c);
            int[] evaluations = {0};
            VetReport wrong = Vetting.report(wrongBase, file, m -> ++evaluations[0]);
            assertFalse(wrong.appliesCleanly());
            assertEquals(VetReport.FlagKind.WRONG_BASE, wrong.flags().getFirst().kind());
            assertTrue(wrong.flags().getFirst().message().contains(ModelDigest.of(wrongBase)));
            assertTrue(Double.isNaN(wrong.metricAfter()));
            assertEquals(1, evaluations[0], "only the base is evaluated");

            Map<String, Tensor> missing = new LinkedHashMap<>(base);
            missing.remove("b");
            missing.put("c", Tensor.zeros(DType.F32, 100));
            VetReport misfit = Vetting.report(missing, file, m -> 0);
            assertTrue(misfit.applyProblems().contains("tensor 'b' is patched but the model has no such tensor"),
                    misfit.applyProblems().toString());
            assertTrue(misfit.flags().stream().anyMatch(f -> f.kind() == VetReport.FlagKind.DOES_NOT_APPLY));
        }
    }
}
