package io.tessera.cli;

import static io.tessera.cli.CliRunner.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.cli.CliRunner.Run;
import io.tessera.data.FashionMnist;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.ffi.CublasLt;
import io.tessera.ffi.CudaDriver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TesseraCommandTest {

    @Test
    void doctorReportsEveryComponentAndExplainsAMissingDriver() {
        Run r = run("doctor");
        assertEquals(0, r.exitCode(), r.err());
        for (String line : new String[] {"JDK            25", "CPU kernels", "ISA tier", "AMX int8", "BF16 dot", "OpenMP", "OpenBLAS",
                "  build        OpenBLAS 0.3.", "LAPACKE", "CUDA driver", "cuBLAS", "cuBLASLt", "CUDA kernels"}) {
            assertTrue(r.out().contains(line), "doctor output lacks '" + line + "':\n" + r.out());
        }
        String forced = System.getenv("OPENBLAS_CORETYPE");
        assertEquals(forced != null && !forced.isBlank(), r.out().contains("  forced       by OPENBLAS_CORETYPE=" + forced), r.out());
        if (!CudaDriver.LIBRARY.isAvailable()) {
            assertTrue(r.out().contains("CUDA driver    not found, so the CUDA backend is off. libcuda.so.1 is not available"), r.out());
        }
        if (!CublasLt.LIBRARY.isAvailable()) {
            assertTrue(r.out().contains("cuBLASLt       not found: int8 GEMM falls back to Tessera's kernel"), r.out());
        }
        assertFalse(r.out().contains("Exception") || r.err().contains("\tat "), "no stack trace:\n" + r.out() + r.err());
    }

    @Test
    void trainFisherMergeRoundTrip(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isDirectory(FashionMnist.DEFAULT_DIR),
                "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
        String model = dir.resolve("m.safetensors").toString();
        Run train = run("train", "--epochs", "1", "--train-limit", "600", "--out", model);
        assertEquals(0, train.exitCode(), train.err());
        assertTrue(train.out().contains("wrote " + model), train.out());
        Run fisher = run("fisher", "--model", model, "--examples", "64", "--out", dir.resolve("f.safetensors").toString(),
                "--grams", dir.resolve("g.safetensors").toString());
        assertEquals(0, fisher.exitCode(), fisher.err());
        assertTrue(fisher.out().contains("Fisher over 64 examples"), fisher.out());
        assertTrue(fisher.out().contains("Input Gram matrices of 2 layers"), fisher.out());
        java.nio.file.Files.writeString(dir.resolve("merge.yaml"), """
                method: fisher
                models:
                  - {path: m.safetensors, fisher: f.safetensors}
                  - {path: m.safetensors, fisher: f.safetensors}
                out: merged.safetensors
                """);
        java.nio.file.Files.writeString(dir.resolve("search.yaml"), """
                method: average
                models: [{path: m.safetensors}, {path: m.safetensors}]
                search: {grid: 2}
                out: searched.safetensors
                """);
        Run search = run("merge", dir.resolve("search.yaml").toString(), "--eval-examples", "200");
        assertEquals(0, search.exitCode(), search.err());
        assertTrue(search.out().contains("Test accuracy of each candidate's merge (200 Fashion-MNIST test images), best first:")
                && search.out().contains("lambda [1.0000, 0.0000]  score"), search.out());
        java.nio.file.Files.writeString(dir.resolve("regmean.yaml"), """
                method: regmean
                models:
                  - {path: m.safetensors, gram: g.safetensors}
                  - {path: m.safetensors, gram: g.safetensors}
                parameters: {alpha: 0.5}   # better conditioned than 0.9 with 64 examples for 784 inputs
                out: regmean.safetensors
                """);
        for (String[] config : new String[][] {{"merge.yaml", "merged.safetensors", "1e-6"},
                {"regmean.yaml", "regmean.safetensors", "1e-3"}}) {
            Run merge = run("merge", dir.resolve(config[0]).toString());
            assertEquals(0, merge.exitCode(), merge.err());
            try (var original = MlpFiles.load(java.nio.file.Path.of(model));
                 var merged = MlpFiles.load(dir.resolve(config[1]))) {
                // merging a model with itself gives it back (RegMean up to its linear solve)
                for (var entry : original.stateDict().entrySet()) {
                    float[] a = entry.getValue().toFloatArray();
                    float[] b = merged.stateDict().get(entry.getKey()).toFloatArray();
                    for (int i = 0; i < a.length; i++) {
                        assertEquals(a[i], b[i], Float.parseFloat(config[2]) * (1 + Math.abs(a[i])), config[0] + " " + entry.getKey());
                    }
                }
            }
        }
        String int8 = dir.resolve("m-int8.safetensors").toString();
        Run quantize = run("quantize", "--model", model, "--out", int8, "--test-images", "500", "--data",
                FashionMnist.DEFAULT_DIR.toString());
        assertEquals(0, quantize.exitCode(), quantize.err());
        assertTrue(quantize.out().contains("quantized layers [0, 2] to int8") && quantize.out().contains("int8 "), quantize.out());
        try (var loaded = MlpFiles.load(java.nio.file.Path.of(int8))) {
            assertEquals(io.tessera.engine.DType.I8, loaded.stateDict().get("0.weight").dtype());
        }
    }

    @Test
    void badInputIsAMessageNotAStackTrace() {
        Run negative = run("train", "--epochs", "0");
        assertEquals(1, negative.exitCode());
        assertTrue(negative.err().contains("tessera train: --epochs and --batch must be >= 1"), negative.err());
        Run missing = run("train", "--data", "/nonexistent/fashion");
        assertEquals(1, missing.exitCode());
        assertTrue(missing.err().contains("/nonexistent/fashion") && missing.err().contains("apt-get install dataset-fashion-mnist"),
                missing.err());
        assertFalse(missing.err().contains("\tat "), missing.err());
        Run unknown = run("no-such-command");
        assertEquals(2, unknown.exitCode());
    }

    /** A failed run: exit code 1 and exactly the one line "tessera COMMAND: MESSAGE" on stderr. */
    private static void assertFails(String message, String... args) {
        Run r = run(args);
        assertEquals(1, r.exitCode(), String.join(" ", args) + "\n" + r.out() + r.err());
        assertEquals("tessera " + args[0] + ": " + message, r.err().strip(), String.join(" ", args));
    }

    @Test
    void fileProblemsNameThePathAndTheReason(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("missing.safetensors");
        Path folder = Files.createDirectory(dir.resolve("folder"));
        assertFails("no such file: " + missing, "quantize", "--model", missing.toString(), "--out", dir.resolve("q").toString());
        assertFails("no such file: " + folder.resolve("config.json"), "quantize", "--model", folder.toString(), "--out",
                dir.resolve("q").toString());
        assertFails("no such file: " + missing, "fisher", "--model", missing.toString(), "--out", dir.resolve("f").toString());
        assertFails("no such file: " + dir.resolve("m.yaml"), "merge", dir.resolve("m.yaml").toString());
        assertFails(folder + " is a directory, not a file", "merge", folder.toString());
        writeModel(dir.resolve("a.safetensors"), 1);
        for (String[] c : new String[][] {{"nowhere/out.safetensors", "the directory " + dir.resolve("nowhere") + " does not exist"},
            {"folder", "it is a directory"}}) {
            Files.writeString(dir.resolve("m.yaml"), "method: average\nmodels: [{path: a.safetensors}]\nout: " + c[0] + "\n");
            assertFails("cannot write " + dir.resolve(c[0]) + ": " + c[1], "merge", dir.resolve("m.yaml").toString());
            assertFails("cannot write " + dir.resolve(c[0]) + ": " + c[1], "quantize", "--model", dir.resolve("a.safetensors").toString(),
                    "--out", dir.resolve(c[0]).toString());
        }
        Files.writeString(dir.resolve("m.yaml"), "method: average\nmodels: [{path: a.safetensors}, {path: b.safetensors}]\nout: o\n");
        assertFails("merge: no such file: " + dir.resolve("b.safetensors"), "merge", dir.resolve("m.yaml").toString());
        try (var files = Files.list(dir)) {
            assertEquals(List.of("a.safetensors", "folder", "m.yaml"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void mergeConfigsAreReadStrictly(@TempDir Path dir) throws IOException {
        Path config = dir.resolve("m.yaml");
        String[][] cases = {
            {"method: average\nmodels: [{path: a}]\nmethod: fisher\nout: o\n", "duplicate key 'method' (line 3)"},
            {"method: dare\nbase: a\nmodels: [{path: b}]\nparameters: {seed: 1.5}\nout: o\n",
                "'parameters.seed' must be an integer, got 1.5 (line 4)"},
            {"method: average\nmodels: [{path: a}]\nout: o\ndtypes: bf16\n", "unknown key 'dtypes' (known here: "}};
        for (String[] c : cases) {
            Files.writeString(config, c[0]);
            Run r = run("merge", config.toString());
            assertEquals(1, r.exitCode(), r.err());
            assertTrue(r.err().startsWith("tessera merge: " + config + ": " + c[1]) && r.err().strip().lines().count() == 1, r.err());
        }
    }

    @Test
    void nonFiniteModelsAreRefusedByFileAndTensor(@TempDir Path dir) throws IOException {
        writeModel(dir.resolve("a.safetensors"), 1);
        Path bad = dir.resolve("b.safetensors");
        writeModel(bad, Float.NaN);
        String message = "model " + bad + ": tensor '0.weight' holds 12 NaN and 0 infinite values";
        Files.writeString(dir.resolve("m.yaml"), "method: average\nmodels: [{path: a.safetensors}, {path: b.safetensors}]\nout: o\n");
        assertFails(message, "merge", dir.resolve("m.yaml").toString());
        assertFails(message, "fisher", "--model", bad.toString(), "--out", dir.resolve("f").toString());
        assertFails(message, "quantize", "--model", bad.toString(), "--out", dir.resolve("q").toString());
        try (var files = Files.list(dir)) {
            assertEquals(List.of("a.safetensors", "b.safetensors", "m.yaml"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    /** An MLP 4-3-2 in bf16 whose layer-0 weight entries are all {@code fill} and whose other entries are random. */
    private static void writeModel(Path file, float fill) throws IOException {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> weights = new LinkedHashMap<>();
            weights.put("0.weight", Tensor.full(fill, DType.BF16, 3, 4));
            weights.put("0.bias", Tensor.randn(1, 0, 3).to(DType.BF16));
            weights.put("2.weight", Tensor.randn(1, 10, 2, 3).to(DType.BF16));
            weights.put("2.bias", Tensor.randn(1, 20, 2).to(DType.BF16));
            MlpFiles.save(file, weights, new long[] {4, 3, 2}, Map.of());
        }
    }

    @Test
    void mergeOfTwoBf16FilesIsWrittenInBf16(@TempDir Path dir) throws IOException {
        Map<String, float[]> values = new LinkedHashMap<>();
        try (TensorScope scope = TensorScope.open()) {
            for (String name : List.of("a", "b")) {
                Tensor w = Tensor.randn(name.equals("a") ? 1 : 2, 0, 16, 9).to(DType.BF16);
                values.put(name, w.toFloatArray()); // the stored values
                Safetensors.write(dir.resolve(name + ".safetensors"), Map.of("w", w));
            }
        }
        Files.writeString(dir.resolve("m.yaml"), """
                method: average
                models: [{path: a.safetensors, weight: 1}, {path: b.safetensors, weight: 2}]
                out: merged.safetensors
                """);
        Run r = run("merge", dir.resolve("m.yaml").toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().startsWith("average merge of 2 models -> " + dir.resolve("merged.safetensors")), r.out());
        try (SafetensorsFile merged = Safetensors.read(dir.resolve("merged.safetensors"))) {
            Tensor w = merged.tensor("w");
            assertEquals(DType.BF16, w.dtype());
            float[] v = w.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                double expected = (values.get("a")[i] + 2.0 * values.get("b")[i]) / 3; // float64 from the stored values
                // within one bf16 ulp (2^-7 relative): f32 arithmetic can push a value across a rounding boundary, never further
                assertEquals(expected, v[i], Math.scalb(1.0, Math.getExponent((float) expected) - 7) + 1e-6, "w[" + i + "]");
            }
        }
    }
}
