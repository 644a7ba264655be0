package io.tessera.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.ffi.CudaDriver;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class TesseraCommandTest {

    record Run(int exitCode, String out, String err) {}

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = TesseraCommand.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void doctorReportsEveryComponentAndExplainsAMissingDriver() {
        Run r = run("doctor");
        assertEquals(0, r.exitCode(), r.err());
        for (String line : new String[] {"JDK            25", "CPU kernels", "ISA tier", "OpenMP", "OpenBLAS", "OpenBLAS 0.3.31",
                "CUDA driver", "cuBLAS", "CUDA kernels"}) {
            assertTrue(r.out().contains(line), "doctor output lacks '" + line + "':\n" + r.out());
        }
        if (!CudaDriver.LIBRARY.isAvailable()) {
            assertTrue(r.out().contains("CUDA driver    not found, so the CUDA backend is off. libcuda.so.1 is not available"), r.out());
        }
        assertFalse(r.out().contains("Exception") || r.err().contains("\tat "), "no stack trace:\n" + r.out() + r.err());
    }

    @Test
    void trainFisherMergeRoundTrip(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isDirectory(io.tessera.engine.data.FashionMnist.DEFAULT_DIR),
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
        for (String[] config : new String[][] {{"merge.yaml", "merged.safetensors", "1e-6"}, {"regmean.yaml", "regmean.safetensors", "1e-3"}}) {
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
        Run quantize = run("quantize", "--model", model, "--out", int8, "--test-images", "500");
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
}
