package io.tessera.cli;

import static io.tessera.cli.CliRunner.fails;
import static io.tessera.cli.CliRunner.listing;
import static io.tessera.cli.CliRunner.ok;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.pipeline.QuantizedCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Merges and patches of int8 checkpoints (tessera quantize's format: I8 codes [out, in], F32 per-row scales), checked
 * against the test's own float64-free reference: codes * scale decoded and absmax / 127 requantized here in plain Java.
 */
class Int8MergePatchTest {
    /** Two int8 layers (a: 7 x 13, b: 1 x 5, each with a bias) and a float tensor, as tessera quantize writes them. */
    private static final Map<String, long[]> WEIGHTS = Map.of("a.weight", new long[] {7, 13}, "b.weight", new long[] {1, 5});
    private static final String LAYERS = "a=inf,b=inf";

    @TempDir
    Path dir;

    /** A float model: weights, biases and a norm vector of random values. */
    private static Map<String, float[]> floatModel(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, float[]> model = new LinkedHashMap<>();
        model.put("a.weight", gaussian(random, 7 * 13));
        model.put("a.bias", gaussian(random, 7));
        model.put("b.weight", gaussian(random, 5));
        model.put("b.bias", gaussian(random, 1));
        model.put("norm", gaussian(random, 11));
        return model;
    }

    private static float[] gaussian(SplittableRandom random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * 0.5);
        }
        return v;
    }

    private static long[] shape(String name, int length) {
        return WEIGHTS.getOrDefault(name, new long[] {length});
    }

    /** Per-row absmax int8, as the quantize kernel: scale = absmax / 127, code = rint(x / scale). */
    record Int8(byte[] codes, float[] scales) {
        static Int8 of(float[] w, int rows) {
            int cols = w.length / rows;
            byte[] codes = new byte[w.length];
            float[] scales = new float[rows];
            for (int r = 0; r < rows; r++) {
                float absmax = 0;
                for (int c = 0; c < cols; c++) {
                    absmax = Math.max(absmax, Math.abs(w[r * cols + c]));
                }
                scales[r] = absmax / 127f;
                for (int c = 0; c < cols; c++) {
                    codes[r * cols + c] = scales[r] > 0 ? (byte) Math.max(-127, Math.min(127, Math.rint(w[r * cols + c] / scales[r]))) : 0;
                }
            }
            return new Int8(codes, scales);
        }

        float[] decode() {
            float[] w = new float[codes.length];
            int cols = codes.length / scales.length;
            for (int i = 0; i < w.length; i++) {
                w[i] = codes[i] * scales[i / cols];
            }
            return w;
        }
    }

    private Path writeFloat(String file, Map<String, float[]> model) throws IOException {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            model.forEach((name, v) -> tensors.put(name, Tensor.of(v, shape(name, v.length))));
            Safetensors.write(dir.resolve(file), tensors, Map.of("format", "pt"));
        }
        return dir.resolve(file);
    }

    /** The int8 checkpoint of a float model (its weights quantized here, the rest as is). */
    private Path writeInt8(String file, Map<String, float[]> model) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (TensorScope scope = TensorScope.open()) {
            model.forEach((name, v) -> {
                if (WEIGHTS.containsKey(name)) {
                    Int8 q = Int8.of(v, (int) WEIGHTS.get(name)[0]);
                    tensors.put(name, Tensor.ofBytes(q.codes(), DType.I8, WEIGHTS.get(name)));
                    tensors.put(name + "_scale", Tensor.of(q.scales(), q.scales().length));
                } else {
                    tensors.put(name, Tensor.of(v, v.length));
                }
            });
            Safetensors.write(dir.resolve(file), tensors, Map.of(QuantizedCheckpoint.LAYERS, LAYERS));
        }
        return dir.resolve(file);
    }

    /** The float model an int8 file decodes to, computed here. */
    private static Map<String, float[]> decoded(Path int8) throws IOException {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (SafetensorsFile f = Safetensors.read(int8)) {
            f.tensors().forEach((name, t) -> {
                if (WEIGHTS.containsKey(name)) {
                    out.put(name, new Int8(t.toByteArray(), f.tensor(name + "_scale").toFloatArray()).decode());
                } else if (!name.endsWith("_scale")) {
                    out.put(name, t.toFloatArray());
                }
            });
        }
        return out;
    }

    private static Map<String, byte[]> bytes(Path file) throws IOException {
        Map<String, byte[]> out = new LinkedHashMap<>();
        try (SafetensorsFile f = Safetensors.read(file)) {
            f.tensors().forEach((name, t) -> out.put(name, t.toByteArray()));
        }
        return out;
    }

    private static Map<String, float[]> floats(Path file) throws IOException {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (SafetensorsFile f = Safetensors.read(file)) {
            f.tensors().forEach((name, t) -> out.put(name, t.toFloatArray()));
        }
        return out;
    }

    private String path(String name) {
        return dir.resolve(name).toString();
    }

    /**
     * Every method, on int8 inputs, writes exactly what the same merge of the decoded float models gives once quantized
     * (the commands decode per tensor, merge in float32 and requantize each row), and the result is int8 in the inputs'
     * layout.
     */
    @Test
    void everyMethodOnInt8InputsIsTheFloatMergeOfTheDecodedModelsRequantized() throws IOException {
        Map<String, float[]> base = floatModel(1);
        writeInt8("base8.safetensors", base);
        for (int m = 0; m < 2; m++) {
            Map<String, float[]> tuned = perturbed(base, 0.2, 10 + m);
            writeInt8("m" + m + "8.safetensors", tuned);
            writeFloat("m" + m + "d.safetensors", decoded(dir.resolve("m" + m + "8.safetensors")));
            Map<String, float[]> fisher = floatModel(20 + m);
            fisher.replaceAll((name, v) -> abs(v));
            writeFloat("f" + m + ".safetensors", fisher);
            Map<String, float[]> grams = new LinkedHashMap<>();
            long gramSeed = 30 + m;
            WEIGHTS.forEach((name, s) -> grams.put(name, gram(s[1], gramSeed)));
            try (TensorScope scope = TensorScope.open()) {
                Map<String, Tensor> g = new LinkedHashMap<>();
                grams.forEach((name, v) -> g.put(name, Tensor.of(v, WEIGHTS.get(name)[1], WEIGHTS.get(name)[1])));
                Safetensors.write(dir.resolve("g" + m + ".safetensors"), g);
            }
        }
        writeFloat("based.safetensors", decoded(dir.resolve("base8.safetensors")));
        String[][] methods = {
            {"--method", "average", "--weights", "0.3,0.7"},
            {"--method", "task-arithmetic", "--base", "BASE", "--weights", "0.5,0.8"},
            {"--method", "ties", "--base", "BASE", "--density", "0.5"},
            {"--method", "dare", "--base", "BASE", "--density", "0.6", "--seed", "3"},
            {"--method", "fisher", "--fishers", path("f0.safetensors") + "," + path("f1.safetensors")},
        };
        for (String[] method : methods) {
            String name = method[1];
            merge(method, "8", name + "-int8.safetensors");
            merge(method, "d", name + "-float.safetensors");
            assertRequantized(name + "-float.safetensors", name + "-int8.safetensors");
        }
        for (String kind : new String[] {"8", "d"}) {
            Files.writeString(dir.resolve("regmean" + kind + ".yaml"), "method: regmean\nmodels:\n"
                    + "  - {path: m0" + kind + ".safetensors, gram: g0.safetensors}\n"
                    + "  - {path: m1" + kind + ".safetensors, gram: g1.safetensors}\n"
                    + "parameters: {alpha: 0.7}\nout: regmean" + kind + ".safetensors\n");
            ok("merge", path("regmean" + kind + ".yaml"));
        }
        assertRequantized("regmeand.safetensors", "regmean8.safetensors");
    }

    private void merge(String[] method, String kind, String out) {
        List<String> args = new java.util.ArrayList<>(List.of("merge"));
        for (String a : method) {
            args.add(a.equals("BASE") ? path("base" + kind + ".safetensors") : a);
        }
        args.addAll(List.of("--models", path("m0" + kind + ".safetensors") + "," + path("m1" + kind + ".safetensors"), "-o", path(out)));
        ok(args.toArray(String[]::new));
    }

    /** {@code int8} holds the rows of {@code floatResult} quantized here, with the inputs' layer list. */
    private void assertRequantized(String floatResult, String int8) throws IOException {
        Map<String, float[]> merged = floats(dir.resolve(floatResult));
        Map<String, byte[]> stored = bytes(dir.resolve(int8));
        merged.forEach((name, v) -> {
            if (WEIGHTS.containsKey(name)) {
                Int8 q = Int8.of(v, (int) WEIGHTS.get(name)[0]);
                assertArrayEquals(q.codes(), stored.get(name), int8 + ": " + name);
                assertArrayEquals(Tensor.of(q.scales(), q.scales().length).toByteArray(), stored.get(name + "_scale"), int8 + ": " + name);
            } else {
                assertArrayEquals(Tensor.of(v, v.length).toByteArray(), stored.get(name), int8 + ": " + name);
            }
        });
        try (SafetensorsFile f = Safetensors.read(dir.resolve(int8))) {
            assertEquals(LAYERS, f.metadata().get(QuantizedCheckpoint.LAYERS));
        }
    }

    /**
     * Linear merges of int8 models stay within a proven bound of the float models' merge: with per-row steps s_i of the
     * inputs and s of the result, |int8 merge - float merge| <= s / 2 + sum_i |w_i| s_i / 2 (each input is off by at most
     * half its step, the merge is linear with weights w_i, and the result is rounded once more), plus float32 rounding.
     */
    @Test
    void linearMergesOfInt8ModelsAreWithinHalfStepsOfTheFloatMerge() throws IOException {
        Map<String, float[]> base = floatModel(2);
        Map<String, float[]> a = perturbed(base, 0.3, 3);
        Map<String, float[]> b = perturbed(base, 0.3, 4);
        writeFloat("base.safetensors", base);
        writeFloat("a.safetensors", a);
        writeFloat("b.safetensors", b);
        writeInt8("base8.safetensors", base);
        writeInt8("a8.safetensors", a);
        writeInt8("b8.safetensors", b);
        ok("merge", "--method", "average", "--weights", "0.25,0.75", "--models", path("a8.safetensors") + "," + path("b8.safetensors"),
                "-o", path("avg8.safetensors"));
        ok("merge", "--method", "average", "--weights", "0.25,0.75", "--models", path("a.safetensors") + "," + path("b.safetensors"),
                "-o", path("avg.safetensors"));
        assertWithinBound("avg", new double[] {0, 0.25, 0.75});
        ok("merge", "--method", "task-arithmetic", "--base", path("base8.safetensors"), "--weights", "0.6,1.3", "--models",
                path("a8.safetensors") + "," + path("b8.safetensors"), "-o", path("ta8.safetensors"));
        ok("merge", "--method", "task-arithmetic", "--base", path("base.safetensors"), "--weights", "0.6,1.3", "--models",
                path("a.safetensors") + "," + path("b.safetensors"), "-o", path("ta.safetensors"));
        assertWithinBound("ta", new double[] {1 - 0.6 - 1.3, 0.6, 1.3});
    }

    /** Checks NAME8 against NAME (float) with the weights of base, a, b in the merge. */
    private void assertWithinBound(String name, double[] weights) throws IOException {
        Map<String, float[]> exact = floats(dir.resolve(name + ".safetensors"));
        Map<String, float[]> int8 = decoded(dir.resolve(name + "8.safetensors"));
        Map<String, float[]> result = new LinkedHashMap<>();
        try (SafetensorsFile f = Safetensors.read(dir.resolve(name + "8.safetensors"))) {
            WEIGHTS.keySet().forEach(w -> result.put(w, f.tensor(w + "_scale").toFloatArray()));
        }
        String[] inputs = {"base8", "a8", "b8"};
        for (String w : WEIGHTS.keySet()) {
            int rows = (int) WEIGHTS.get(w)[0];
            int cols = (int) WEIGHTS.get(w)[1];
            double[] bound = new double[rows];
            for (int i = 0; i < inputs.length; i++) {
                try (SafetensorsFile f = Safetensors.read(dir.resolve(inputs[i] + ".safetensors"))) {
                    float[] s = f.tensor(w + "_scale").toFloatArray();
                    for (int r = 0; r < rows; r++) {
                        bound[r] += Math.abs(weights[i]) * s[r] / 2;
                    }
                }
            }
            double worst = 0;
            for (int r = 0; r < rows; r++) {
                double allowed = bound[r] + result.get(w)[r] / 2 + 1e-6;
                for (int c = 0; c < cols; c++) {
                    double error = Math.abs(int8.get(w)[r * cols + c] - exact.get(w)[r * cols + c]);
                    assertTrue(error <= allowed, name + " " + w + "[" + r + ", " + c + "]: " + error + " > " + allowed);
                    worst = Math.max(worst, error / allowed);
                }
            }
            assertTrue(worst > 0, name + " " + w + ": the int8 merge should differ from the float one somewhere");
        }
        for (String f : List.of("a.bias", "b.bias", "norm")) { // float tensors: merged as the float models' are
            assertArrayEquals(exact.get(f), int8.get(f), 1e-6f, name + " " + f);
        }
    }

    /**
     * diff of two int8 models is a float patch of their decoded difference; apply writes it into the int8 base touching
     * only the patched rows, and gives the tuned model back bit for bit when its rows kept the base's scales; revert then
     * restores the base bit for bit.
     */
    @Test
    void applyAndRevertOnInt8KeepUntouchedRowsAndRoundTripWhenScalesHold() throws IOException {
        Map<String, float[]> base = floatModel(5);
        // change a few entries of row 2 of a.weight and the bias, staying below the row's largest magnitude
        Map<String, float[]> tuned = copy(base);
        float[] w = tuned.get("a.weight");
        int largest = argmaxAbs(w, 2 * 13, 13);
        for (int c : new int[] {0, 4, 11}) {
            if (2 * 13 + c != largest) {
                w[2 * 13 + c] = w[largest] * (c - 5) / 13f;
            }
        }
        tuned.get("a.bias")[6] += 0.25f;
        Path base8 = writeInt8("base8.safetensors", base);
        Path tuned8 = writeInt8("tuned8.safetensors", tuned);
        ok("diff", base8.toString(), tuned8.toString(), "-o", path("p.patch"));
        ok("apply", base8.toString(), path("p.patch"), "-o", path("patched8.safetensors"));
        Map<String, byte[]> patched = bytes(dir.resolve("patched8.safetensors"));
        assertEquals(bytes(tuned8).keySet(), patched.keySet());
        bytes(tuned8).forEach((name, b) -> assertArrayEquals(b, patched.get(name), name));
        Map<String, byte[]> before = bytes(base8);
        assertArrayEquals(before.get("b.weight"), patched.get("b.weight"));
        assertArrayEquals(before.get("a.weight_scale"), patched.get("a.weight_scale"));
        for (int r = 0; r < 7; r++) { // untouched rows keep their codes
            if (r != 2) {
                assertArrayEquals(java.util.Arrays.copyOfRange(before.get("a.weight"), r * 13, r * 13 + 13),
                        java.util.Arrays.copyOfRange(patched.get("a.weight"), r * 13, r * 13 + 13), "row " + r);
            }
        }
        ok("revert", path("patched8.safetensors"), path("p.patch"), "-o", path("reverted8.safetensors"));
        Map<String, byte[]> reverted = bytes(dir.resolve("reverted8.safetensors"));
        before.forEach((name, b) -> assertArrayEquals(b, reverted.get(name), name));
    }

    /**
     * A patch that raises a row's largest magnitude makes apply give that row a larger scale: the row's other entries
     * lose resolution, so revert cannot restore them and fails, writing nothing; the other rows stay bit for bit.
     */
    @Test
    void revertOfARowWhoseScaleGrewFailsWithoutOutput() throws IOException {
        Map<String, float[]> base = floatModel(6);
        Map<String, float[]> tuned = copy(base);
        float[] w = tuned.get("a.weight");
        w[3 * 13 + 5] = 3 * Math.abs(w[argmaxAbs(w, 3 * 13, 13)]);
        Path base8 = writeInt8("base8.safetensors", base);
        Path tuned8 = writeInt8("tuned8.safetensors", tuned);
        ok("diff", base8.toString(), tuned8.toString(), "-o", path("p.patch"));
        ok("apply", base8.toString(), path("p.patch"), "-o", path("patched8.safetensors"));
        Map<String, byte[]> before = bytes(base8);
        Map<String, byte[]> patched = bytes(dir.resolve("patched8.safetensors"));
        Map<String, float[]> tunedValues = decoded(tuned8);
        Map<String, float[]> patchedValues = decoded(dir.resolve("patched8.safetensors"));
        float[] scales = Tensor.ofBytes(patched.get("a.weight_scale"), DType.F32, 7).toFloatArray();
        for (int c = 0; c < 13; c++) { // the patched row holds the tuned values to within half its new step
            float error = Math.abs(patchedValues.get("a.weight")[3 * 13 + c] - tunedValues.get("a.weight")[3 * 13 + c]);
            assertTrue(error <= scales[3] / 2 * (1 + 1e-6f), "entry " + c + ": " + error);
        }
        for (int r = 0; r < 7; r++) {
            if (r != 3) {
                assertArrayEquals(java.util.Arrays.copyOfRange(before.get("a.weight"), r * 13, r * 13 + 13),
                        java.util.Arrays.copyOfRange(patched.get("a.weight"), r * 13, r * 13 + 13), "row " + r);
            }
        }
        List<String> files = listing(dir);
        fails(1, List.of("does not revert", "raised an int8 row's scale"), "revert", path("patched8.safetensors"), path("p.patch"),
                "-o", path("reverted8.safetensors"));
        assertEquals(files, listing(dir));
    }

    @Test
    void badInt8InputsFailNamingTheFileAndTensorAndWriteNothing() throws IOException {
        Map<String, float[]> base = floatModel(7);
        Path good = writeInt8("good8.safetensors", base);
        Path other = writeInt8("other8.safetensors", perturbed(base, 0.1, 8));
        Path noScale = rewrite(good, "noscale8.safetensors", t -> {
            t.remove("b.weight_scale");
            return t;
        }, Map.of(QuantizedCheckpoint.LAYERS, LAYERS));
        Path otherLayers = rewrite(other, "layers8.safetensors", t -> t, Map.of(QuantizedCheckpoint.LAYERS, "a=inf,b=6.0"));
        Path floatBase = writeFloat("base.safetensors", base);
        writeFloat("tuned.safetensors", perturbed(base, 0.1, 9));
        ok("diff", floatBase.toString(), path("tuned.safetensors"), "-o", path("float.patch"));
        List<String> files = listing(dir);

        fails(1, List.of(noScale.toString(), "b.weight_scale"), "merge", "--method", "average", "--models",
                good + "," + noScale, "-o", path("out.safetensors"));
        fails(1, List.of(noScale.toString(), "b.weight_scale"), "apply", noScale.toString(), path("float.patch"),
                "-o", path("out.safetensors"));
        fails(1, List.of("different forms", "a=inf,b=6.0"), "merge", "--method", "average", "--models", good + "," + otherLayers,
                "-o", path("out.safetensors"));
        fails(1, List.of("does not apply to " + good, "digest"), "apply", good.toString(), path("float.patch"),
                "-o", path("out.safetensors"));
        fails(1, List.of("patches cannot be merged over the base " + good, "int8"), "merge", "--method", "task-arithmetic",
                "--base", good.toString(), "--models", path("float.patch") + "," + other, "-o", path("out.safetensors"));
        assertEquals(files, listing(dir));
    }

    private Path rewrite(Path from, String to, UnaryOperator<Map<String, Tensor>> edit, Map<String, String> metadata) throws IOException {
        try (TensorScope scope = TensorScope.open(); SafetensorsFile f = Safetensors.read(from)) {
            Safetensors.write(dir.resolve(to), edit.apply(new LinkedHashMap<>(f.tensors())), metadata);
        }
        return dir.resolve(to);
    }

    private static Map<String, float[]> perturbed(Map<String, float[]> model, double scale, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, float[]> out = copy(model);
        out.values().forEach(v -> {
            for (int i = 0; i < v.length; i++) {
                v[i] += (float) (random.nextGaussian() * scale);
            }
        });
        return out;
    }

    private static Map<String, float[]> copy(Map<String, float[]> model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        model.forEach((name, v) -> out.put(name, v.clone()));
        return out;
    }

    private static float[] abs(float[] v) {
        float[] out = v.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.abs(out[i]) + 1e-3f;
        }
        return out;
    }

    /** X^T X of random inputs X [n + 3, n]: a positive definite Gram matrix [n, n]. */
    private static float[] gram(long n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int k = (int) n;
        double[][] x = new double[k + 3][k];
        for (double[] row : x) {
            for (int j = 0; j < k; j++) {
                row[j] = random.nextGaussian();
            }
        }
        float[] g = new float[k * k];
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (double[] row : x) {
                    s += row[i] * row[j];
                }
                g[i * k + j] = (float) s;
            }
        }
        return g;
    }

    private static int argmaxAbs(float[] v, int from, int length) {
        int best = from;
        for (int i = from; i < from + length; i++) {
            best = Math.abs(v[i]) > Math.abs(v[best]) ? i : best;
        }
        return best;
    }
}
