package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.io.StoredModel;
import io.tessera.engine.nn.Mlp;
import io.tessera.sparse.Compression;
import io.tessera.sparse.Patch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MergeConfigTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private void write(String name, float... values) throws IOException {
        try (TensorScope scope = TensorScope.open()) {
            Safetensors.write(dir.resolve(name), Map.of("w", Tensor.of(values, values.length)));
        }
    }

    @Test
    void fisherMergeFromYamlWritesTheMergedModel() throws IOException {
        write("a.safetensors", 1, 2);
        write("b.safetensors", 3, 6);
        write("fa.safetensors", 1, 0);
        write("fb.safetensors", 3, 0);
        Files.writeString(dir.resolve("merge.yaml"), """
                method: fisher
                models:
                  - {path: a.safetensors, fisher: fa.safetensors, weight: 1}
                  - {path: b.safetensors, fisher: fb.safetensors, weight: 1}
                parameters: {fisher_floor: 1.0e-6}
                out: merged.safetensors
                """);
        MergeRunner.run(MergeConfig.load(dir.resolve("merge.yaml")));
        try (SafetensorsFile merged = Safetensors.read(dir.resolve("merged.safetensors"))) {
            // entry 0: (1*1 + 3*3) / (1 + 3) = 2.5; entry 1: both Fishers floored, so the plain mean 4
            assertArrayEquals(new float[] {2.5f, 4f}, merged.tensor("w").toFloatArray(), 1e-6f);
            assertEquals("fisher", merged.metadata().get("merge_method"));
        }
    }

    /** Two MLPs 5-4-3 and their Gram files over different inputs, as {@code tessera fisher --grams} writes them. */
    private List<Map<String, Tensor>> writeRegMeanInputs(List<Map<String, Tensor>> grams) throws IOException {
        List<Map<String, Tensor>> models = new java.util.ArrayList<>();
        for (int m = 0; m < 2; m++) {
            try (Mlp mlp = new Mlp(m + 1, 5, 4, 3)) {
                Map<String, Tensor> state = new java.util.LinkedHashMap<>();
                mlp.stateDict().forEach((name, t) -> state.put(name, t.contiguous().mul(1)));
                models.add(state);
                Map<String, Tensor> g = Grams.ofMlp(mlp, Tensor.randn(10 + m, 0, 23, 5), 8);
                grams.add(g);
                Safetensors.write(dir.resolve("m" + m + ".safetensors"), state);
                Safetensors.write(dir.resolve("g" + m + ".safetensors"), g);
            }
        }
        return models;
    }

    @Test
    void regMeanFromYamlMatchesTheDirectCall() throws IOException {
        try (TensorScope scope = TensorScope.open()) {
            List<Map<String, Tensor>> grams = new java.util.ArrayList<>();
            List<Map<String, Tensor>> models = writeRegMeanInputs(grams);
            Files.writeString(dir.resolve("regmean.yaml"), """
                    method: regmean
                    models:
                      - {path: m0.safetensors, gram: g0.safetensors}
                      - {path: m1.safetensors, gram: g1.safetensors}
                    parameters: {alpha: 0.7}
                    out: merged.safetensors
                    """);
            List<String> reports = new java.util.ArrayList<>();
            MergeRunner.run(MergeConfig.load(dir.resolve("regmean.yaml")), null, StoredModel.PLAIN,
                    (done, total) -> reports.add(done + "/" + total));
            Map<String, Tensor> expected = Merge.regMean(models, grams, 0.7);
            assertEquals(java.util.stream.IntStream.rangeClosed(1, expected.size()).mapToObj(i -> i + "/" + expected.size()).toList(),
                    reports, "one progress report per tensor written, in order");
            try (SafetensorsFile merged = Safetensors.read(dir.resolve("merged.safetensors"))) {
                assertEquals(expected.keySet(), merged.tensors().keySet());
                expected.forEach((name, t) -> assertArrayEquals(t.toFloatArray(), merged.tensor(name).toFloatArray(), name));
                assertEquals("regmean", merged.metadata().get("merge_method"));
            }
            grams.forEach(g -> g.values().forEach(Tensor::close));
        }
    }

    @Test
    void regMeanInputProblemsAreReportedAtOnce() throws IOException {
        try (TensorScope scope = TensorScope.open()) {
            List<Map<String, Tensor>> grams = new java.util.ArrayList<>();
            writeRegMeanInputs(grams);
            // g1 lacks layer 2.weight, has a Gram for a bias, and a wrong shape for 0.weight
            Safetensors.write(dir.resolve("g1.safetensors"), Map.of("0.weight", Tensor.zeros(4, 4), "0.bias", Tensor.zeros(4, 4)));
            Files.writeString(dir.resolve("regmean.yaml"), """
                    method: regmean
                    models:
                      - {path: m0.safetensors, gram: g0.safetensors}
                      - {path: m1.safetensors, gram: g1.safetensors}
                      - {path: m0.safetensors}
                    out: merged.safetensors
                    """);
            var noGram = assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("regmean.yaml")));
            assertTrue(noGram.getMessage().contains("models[2] (m0.safetensors) has no 'gram', which method regmean needs"),
                    noGram.getMessage());
            Files.writeString(dir.resolve("regmean.yaml"), """
                    method: regmean
                    models:
                      - {path: m0.safetensors, gram: g0.safetensors}
                      - {path: m1.safetensors, gram: g1.safetensors}
                      - {path: m9.safetensors, gram: g9.safetensors}
                    out: merged.safetensors
                    """);
            var missing = assertThrows(IllegalArgumentException.class,
                    () -> MergeRunner.run(MergeConfig.load(dir.resolve("regmean.yaml"))));
            assertEquals("merge: no such file: " + dir.resolve("m9.safetensors") + "; no such file: " + dir.resolve("g9.safetensors"),
                    missing.getMessage());
            Files.writeString(dir.resolve("regmean.yaml"), """
                    method: regmean
                    models:
                      - {path: m0.safetensors, gram: g0.safetensors}
                      - {path: m1.safetensors, gram: g1.safetensors}
                    out: merged.safetensors
                    """);
            var e = assertThrows(IllegalArgumentException.class, () -> MergeRunner.run(MergeConfig.load(dir.resolve("regmean.yaml"))));
            String m = e.getMessage();
            String g1 = dir.resolve("g1.safetensors").toString();
            assertTrue(m.contains("3 problem(s)") && m.contains(g1 + " lacks 2.weight, which " + dir.resolve("g0.safetensors") + " has")
                    && m.contains(g1 + " has 0.bias, which") && m.contains(g1 + ": 0.weight is f32[4, 4]")
                    && m.contains("expected f32[5, 5] for the weight f32[4, 5]"), m);
            assertTrue(Files.notExists(dir.resolve("merged.safetensors")));
            grams.forEach(g -> g.values().forEach(Tensor::close));
        }
    }

    @Test
    void patchesAreAppliedToTheBaseTheyWereMadeAgainst() throws IOException {
        write("base.safetensors", 1, 2, 3, 4);
        write("other.safetensors", 1, 2, 3, 5);
        write("b.safetensors", 3, 2, 1, 0);
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> base = Map.of("w", Tensor.of(new float[] {1, 2, 3, 4}, 4));
            Patch.diff(base, Map.of("w", Tensor.of(new float[] {1, 9, 3, 4}, 4)), "alice").save(dir.resolve("a.patch"), Compression.NONE);
            Patch.diff(Map.of("w", Tensor.of(new float[] {1, 2, 3, 5}, 4)), Map.of("w", Tensor.of(new float[] {0, 2, 3, 5}, 4)), "carol")
                    .save(dir.resolve("c.patch"), Compression.NONE);
        }
        Files.writeString(dir.resolve("m.yaml"), """
                method: average
                base: base.safetensors
                models: [{patch: a.patch}, {path: b.safetensors}]
                out: merged.safetensors
                """);
        MergeRunner.run(MergeConfig.load(dir.resolve("m.yaml")));
        try (SafetensorsFile merged = Safetensors.read(dir.resolve("merged.safetensors"))) {
            // (1, 9, 3, 4) and (3, 2, 1, 0) averaged
            assertArrayEquals(new float[] {2, 5.5f, 2, 2}, merged.tensor("w").toFloatArray());
        }
        Files.writeString(dir.resolve("wrong.yaml"), """
                method: average
                base: base.safetensors
                models: [{patch: a.patch}, {patch: c.patch}, {patch: c.patch, weight: 2}]
                out: wrong.safetensors
                """);
        var e = assertThrows(IllegalArgumentException.class, () -> MergeRunner.run(MergeConfig.load(dir.resolve("wrong.yaml"))));
        assertTrue(e.getMessage().contains("2 patch(es) do not apply to the base " + dir.resolve("base.safetensors"))
                && e.getMessage().contains(dir.resolve("c.patch") + " was made against base "), e.getMessage());
        assertTrue(Files.notExists(dir.resolve("wrong.safetensors")));
        Files.writeString(dir.resolve("nobase.yaml"),
                "method: average\nmodels: [{patch: a.patch}, {path: b.safetensors, patch: a.patch}]\nout: x\n");
        String m = assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("nobase.yaml"))).getMessage();
        assertTrue(m.contains("models given as patches need 'base'")
                && m.contains("models[1] needs one of 'path' (or 'model') and 'patch'"), m);
    }

    @Test
    void searchWritesTheBestScoringWeights() throws IOException {
        write("a.safetensors", 0, 10);
        write("b.safetensors", 1, 20);
        Files.writeString(dir.resolve("s.yaml"), """
                method: average
                models: [{path: a.safetensors}, {path: b.safetensors}]
                search: {grid: 4}
                out: merged.safetensors
                """);
        MergeConfig config = MergeConfig.load(dir.resolve("s.yaml"));
        var noEvaluation = assertThrows(IllegalArgumentException.class, () -> MergeRunner.run(config));
        assertTrue(noEvaluation.getMessage().contains("needs an evaluation"), noEvaluation.getMessage());
        // held-out "data" prefers w[0] = 0.75: weights (0.25, 0.75)
        CoefficientSearch.Table table = MergeRunner.run(config, merged -> -Math.abs(merged.get("w").toFloatArray()[0] - 0.75));
        assertEquals(5, table.rows().size());
        assertArrayEquals(new double[] {0.25, 0.75}, table.best().lambdas(), 1e-12);
        try (SafetensorsFile merged = Safetensors.read(dir.resolve("merged.safetensors"))) {
            assertArrayEquals(new float[] {0.75f, 17.5f}, merged.tensor("w").toFloatArray(), 1e-6f);
            assertEquals("[0.25, 0.75]", merged.metadata().get("merge_weights"));
        }
        Files.writeString(dir.resolve("bad.yaml"), """
                method: ties
                base: a.safetensors
                models: [{path: a.safetensors}, {path: b.safetensors}, {path: b.safetensors}]
                search: {grid: 4, concentration: 0}
                out: merged.safetensors
                """);
        String m = assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("bad.yaml"))).getMessage();
        assertTrue(m.contains("3 problem(s)") && m.contains("'search: grid' needs >= 1 steps and exactly 2 models, got 4 and 3")
                && m.contains("'search: concentration' must be > 0") && m.contains("which method ties does not take"), m);
    }

    @Test
    void everyConfigProblemIsReportedAtOnce() throws IOException {
        Files.writeString(dir.resolve("bad.yaml"), """
                method: ties
                models:
                  - {weight: 2}
                """);
        var e = assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("bad.yaml")));
        String m = e.getMessage();
        assertTrue(m.contains("3 problem(s)") && m.contains("needs 'base'")
                && m.contains("models[0] needs one of 'path' (or 'model') and 'patch'") && m.contains("'out' is missing"), m);
        Files.writeString(dir.resolve("typo.yaml"), "method: average\nmodles: []\nout: x\n");
        var typo = assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("typo.yaml")));
        assertTrue(typo.getMessage().contains("unknown key 'modles'"), typo.getMessage());
        Files.writeString(dir.resolve("method.yaml"), "method: soup\nmodels: [{path: a}]\nout: x\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("method.yaml")))
                .getMessage().contains("unknown method 'soup'"));
    }

    @Test
    void mismatchedInputsFailBeforeAnythingIsWritten() throws IOException {
        write("a.safetensors", 1, 2);
        write("b.safetensors", 3, 6, 9);
        Files.writeString(dir.resolve("m.yaml"),
                "method: average\nmodels: [{path: a.safetensors}, {path: b.safetensors}]\nout: out.safetensors\n");
        var e = assertThrows(IllegalArgumentException.class, () -> MergeRunner.run(MergeConfig.load(dir.resolve("m.yaml"))));
        assertTrue(e.getMessage().contains("w: model 0 has f32[2]"), e.getMessage());
        assertTrue(Files.notExists(dir.resolve("out.safetensors")));
    }

    /** Random values in [-1, 1) stored as {@code dtype}, for tensors "a" [3, 5] and "b" [301]. */
    private Map<String, float[]> writeRandom(String name, DType dtype, long seed) throws IOException {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> stored = Map.of("a", Tensor.rand(seed, 0, 3, 5).mul(2).sub(1).to(dtype),
                    "b", Tensor.rand(seed, 100, 301).mul(2).sub(1).to(dtype));
            Safetensors.write(dir.resolve(name), stored);
            Map<String, float[]> values = new java.util.HashMap<>();
            stored.forEach((n, t) -> values.put(n, t.toFloatArray())); // the stored values, widened exactly
            return values;
        }
    }

    private List<String> listDir() throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void halfPrecisionModelsMergeInFloat32AndAreWrittenInTheirDtypeOrTheConfigs() throws Exception {
        Map<String, float[]> a = writeRandom("a.safetensors", DType.BF16, 1);
        Map<String, float[]> b = writeRandom("b.safetensors", DType.BF16, 2);
        Map<String, float[]> c = writeRandom("c.safetensors", DType.F16, 3);
        // debris of a merge that crashed while writing out.safetensors: removed by the next write
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Files.writeString(dir.resolve(".out.safetensors." + gone.pid() + ".8badf00d.tmp"), "half-written");
        String[][] cases = { // {second model, dtype key, expected output dtype}
            {"b.safetensors", "", "BF16"}, {"b.safetensors", "dtype: f32\n", "F32"}, {"c.safetensors", "", "F32"},
            {"c.safetensors", "dtype: bfloat16\n", "BF16"}, {"b.safetensors", "dtype: f16\n", "F16"}};
        for (String[] c0 : cases) {
            Map<String, float[]> second = c0[0].equals("b.safetensors") ? b : c;
            Files.writeString(dir.resolve("m.yaml"), "method: average\nmodels: [{path: a.safetensors, weight: 1}, {path: " + c0[0]
                    + ", weight: 3}]\nout: out.safetensors\n" + c0[1]);
            MergeRunner.run(MergeConfig.load(dir.resolve("m.yaml")));
            DType dtype = DType.valueOf(c0[2]);
            try (SafetensorsFile merged = Safetensors.read(dir.resolve("out.safetensors"))) {
                for (String n : List.of("a", "b")) {
                    Tensor t = merged.tensor(n);
                    assertEquals(dtype, t.dtype(), c0[0] + " " + c0[1] + n);
                    float[] v = t.toFloatArray();
                    for (int i = 0; i < v.length; i++) {
                        double expected = (a.get(n)[i] + 3.0 * second.get(n)[i]) / 4; // float64 from the stored values
                        assertEquals(expected, v[i], MergeTest.tolerance(dtype, expected), c0[0] + " " + c0[1] + n + "[" + i + "]");
                    }
                }
            }
        }
        assertEquals(List.of("a.safetensors", "b.safetensors", "c.safetensors", "m.yaml", "out.safetensors"), listDir());
    }

    @Test
    void nonFiniteInputsAreRefusedByNameBeforeAnythingIsWritten() throws IOException {
        write("a.safetensors", 1, 2, 3, 4);
        write("b.safetensors", 1, Float.NaN, Float.POSITIVE_INFINITY, Float.NaN);
        write("fa.safetensors", 1, 1, 1, 1);
        write("fb.safetensors", 1, 1, 1, 1);
        write("fnan.safetensors", 1, 1, Float.NEGATIVE_INFINITY, 1);
        String[][] cases = {
            {"method: average\nmodels: [{path: a.safetensors}, {path: b.safetensors}]", "model " + dir.resolve("b.safetensors")
                    + ": tensor 'w' holds 2 NaN and 1 infinite values"},
            {"method: ties\nbase: b.safetensors\nmodels: [{path: a.safetensors}]", "base " + dir.resolve("b.safetensors")
                    + ": tensor 'w' holds 2 NaN and 1 infinite values"},
            {"method: fisher\nmodels: [{path: a.safetensors, fisher: fa.safetensors}, {path: a.safetensors, fisher: fnan.safetensors}]",
                    "Fisher " + dir.resolve("fnan.safetensors") + ": tensor 'w' holds 0 NaN and 1 infinite values"}};
        for (String[] c : cases) {
            Files.writeString(dir.resolve("m.yaml"), c[0] + "\nout: out.safetensors\n");
            var e = assertThrows(IllegalArgumentException.class, () -> MergeRunner.run(MergeConfig.load(dir.resolve("m.yaml"))));
            assertEquals(c[1], e.getMessage());
        }
        assertEquals(List.of("a.safetensors", "b.safetensors", "fa.safetensors", "fb.safetensors", "fnan.safetensors", "m.yaml"),
                listDir());
    }

    @Test
    void aMergeThatFailsMidwayLeavesNoOutputAndNoTemporaryFile() throws IOException {
        // RegMean on two weights: "a.weight" solves and is written, then "b.weight"'s Gram [[1, 2], [2, 1]] is not positive definite
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> model = Map.of("a.weight", Tensor.of(new float[] {1, 2, 3, 4}, 2, 2), "b.weight",
                    Tensor.of(new float[] {5, 6, 7, 8}, 2, 2));
            Safetensors.write(dir.resolve("m.safetensors"), model);
            Safetensors.write(dir.resolve("g.safetensors"), Map.of("a.weight", Tensor.of(new float[] {2, 0, 0, 3}, 2, 2),
                    "b.weight", Tensor.of(new float[] {1, 2, 2, 1}, 2, 2)));
        }
        Files.writeString(dir.resolve("m.yaml"), """
                method: regmean
                models: [{path: m.safetensors, gram: g.safetensors}, {path: m.safetensors, gram: g.safetensors}]
                parameters: {alpha: 1}
                out: out.safetensors
                """);
        var e = assertThrows(IllegalArgumentException.class, () -> MergeRunner.run(MergeConfig.load(dir.resolve("m.yaml"))));
        assertTrue(e.getMessage().contains("not positive definite"), e.getMessage());
        assertEquals(List.of("g.safetensors", "m.safetensors", "m.yaml"), listDir());
    }

    @Test
    void tiesScopeAndDtypeAreReadAndChecked() throws IOException {
        Files.writeString(dir.resolve("t.yaml"), "method: ties\nbase: a\nmodels: [{path: b}]\nout: o\n");
        MergeConfig defaults = MergeConfig.load(dir.resolve("t.yaml"));
        assertEquals(Merge.TrimScope.TENSOR, defaults.parameters().scope());
        assertEquals(null, defaults.dtype());
        Files.writeString(dir.resolve("t.yaml"), "method: ties\nbase: a\nmodels: [{path: b}]\nparameters: {scope: model}\nout: o\n"
                + "dtype: F16\n");
        MergeConfig model = MergeConfig.load(dir.resolve("t.yaml"));
        assertEquals(Merge.TrimScope.MODEL, model.parameters().scope());
        assertEquals(DType.F16, model.dtype());
        Files.writeString(dir.resolve("t.yaml"), "method: ties\nbase: a\nmodels: [{path: b}]\nparameters: {scope: layer}\nout: o\n"
                + "dtype: f64\n");
        String m = assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("t.yaml"))).getMessage();
        assertTrue(m.contains("2 problem(s)") && m.contains("'parameters.scope' must be model or tensor, got 'layer'")
                && m.contains("'dtype' must be f32, bf16 or f16 (or float32, bfloat16, float16), got 'f64'"), m);
    }

    @Test
    void yamlIsReadStrictlyAndEachErrorNamesTheKeyAndTheFile() throws IOException {
        Path file = dir.resolve("s.yaml");
        String[][] cases = {
            {"method: average\nmethod: fisher\nmodels: [{path: a}]\nout: o\n", "duplicate key 'method' (line 2)"},
            {"method: ties\nbase: a\nmodels: [{path: b}]\nparameters: {seed: 1, density: 0.5, seed: 2}\nout: o\n",
                "duplicate key 'parameters.seed' (line 4)"},
            {"method: dare\nbase: a\nmodels: [{path: b}]\nparameters: {seed: 1.5}\nout: o\n",
                "'parameters.seed' must be an integer, got 1.5 (line 4)"},
            {"method: average\nmodels: [{path: a}, {path: b, weight: heavy}]\nout: o\n",
                "'models[1].weight' must be a number, got heavy (line 2)"},
            {"method: average\nmodels: [{path: a}]\nsearch: {grid: 2.0}\nout: o\n", "'search.grid' must be an integer, got 2.0 (line 3)"},
            {"method: average\nmodels: [{path: a, wieght: 2}]\nout: o\n", "unknown key 'models[0].wieght' (known here: "},
            {"method: average\nmodels: 3\nout: o\n", "'models' must be a list (line 2)"},
            {"method: average\nmodels: [{path: a}]\nout: o\n---\nmethod: fisher\n", "holds more than one YAML document (line 5)"},
            {"method: average\nmodels: [{path: a}\nout: o\n", "not a valid merge config: "},
            {"- method: average\n", "the merge config must be a mapping of keys (line 1)"}};
        for (String[] c : cases) {
            Files.writeString(file, c[0]);
            String m = assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(file), c[0]).getMessage();
            assertTrue(m.startsWith(file + ": " + c[1]), c[0] + " gave: " + m);
            assertFalse(m.contains("\n"), "one line: " + m);
        }
    }
}
