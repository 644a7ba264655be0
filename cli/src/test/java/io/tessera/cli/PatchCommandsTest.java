package io.tessera.cli;

import static io.tessera.cli.CliRunner.fails;
import static io.tessera.cli.CliRunner.listing;
import static io.tessera.cli.CliRunner.ok;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.sparse.Compression;
import io.tessera.sparse.Patch;
import io.tessera.sparse.SparseMask;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tessera diff / apply / revert: bit-exact round trips on small random models, and every bad input refused without output. */
class PatchCommandsTest {
    @TempDir
    Path dir;

    /** A model's tensors as raw bytes, with dtypes and shapes: the test's own view, built without the patch code. */
    record Model(Map<String, DType> dtypes, Map<String, long[]> shapes, Map<String, byte[]> bytes) {
        Model changed(double fraction, long seed) {
            SplittableRandom random = new SplittableRandom(seed);
            Map<String, byte[]> out = new LinkedHashMap<>();
            bytes.forEach((name, b) -> {
                byte[] c = b.clone();
                int size = dtypes.get(name).byteSize();
                for (int i = 0; i < c.length / size; i++) {
                    if (random.nextDouble() < fraction) {
                        c[i * size] ^= (byte) (1 + random.nextInt(255)); // a different value: its lowest byte differs
                    }
                }
                out.put(name, c);
            });
            return new Model(dtypes, shapes, out);
        }

        Path write(Path file) throws IOException {
            try (TensorScope scope = TensorScope.open()) {
                Map<String, Tensor> tensors = new LinkedHashMap<>();
                bytes.forEach((name, b) -> tensors.put(name, Tensor.ofBytes(b, dtypes.get(name), shapes.get(name))));
                Safetensors.write(file, tensors, Map.of("format", "pt"));
            }
            return file;
        }

        /** Entries whose bytes differ from {@code other}'s. */
        long differences(Model other) {
            long n = 0;
            for (String name : bytes.keySet()) {
                int size = dtypes.get(name).byteSize();
                byte[] a = bytes.get(name);
                byte[] b = other.bytes.get(name);
                for (int i = 0; i < a.length / size; i++) {
                    n += Arrays.equals(a, i * size, (i + 1) * size, b, i * size, (i + 1) * size) ? 0 : 1;
                }
            }
            return n;
        }
    }

    private static Model random(DType dtype, long seed) {
        Map<String, DType> dtypes = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, byte[]> bytes = new LinkedHashMap<>();
        Object[][] tensors = {{"layer.0.weight", new long[] {16, 9}, dtype}, {"layer.0.bias", new long[] {16}, dtype},
            {"head.weight", new long[] {3, 16}, DType.F32}, {"steps", new long[] {2}, DType.I64}};
        try (TensorScope scope = TensorScope.open()) {
            for (Object[] t : tensors) {
                String name = (String) t[0];
                dtypes.put(name, (DType) t[2]);
                shapes.put(name, (long[]) t[1]);
                bytes.put(name, Tensor.randn(seed, bytes.size() * 1000L, (long[]) t[1]).to((DType) t[2]).toByteArray());
            }
        }
        return new Model(dtypes, shapes, bytes);
    }

    private static void assertHolds(Model expected, Path file) throws IOException {
        try (SafetensorsFile f = Safetensors.read(file)) {
            assertEquals(expected.bytes().keySet(), f.tensors().keySet(), file.toString());
            expected.bytes().forEach((name, b) -> {
                Tensor t = f.tensor(name);
                assertEquals(expected.dtypes().get(name), t.dtype(), name);
                assertArrayEquals(expected.shapes().get(name), t.shape(), name);
                assertArrayEquals(b, t.toByteArray(), file + ": " + name + " bit for bit");
            });
            assertEquals(Map.of("format", "pt"), f.metadata(), "the model's metadata is kept");
        }
    }

    private String path(String name) {
        return dir.resolve(name).toString();
    }

    @Test
    void diffApplyRevertRoundTripBitForBit() throws IOException {
        for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            Model base = random(dtype, 1);
            Model tuned = base.changed(0.2, 2);
            base.write(dir.resolve("base.safetensors"));
            tuned.write(dir.resolve("tuned.safetensors"));
            for (boolean zstd : new boolean[] {false, true}) {
                String patch = zstd ? path("p.patch.zst") : path("p.patch");
                String json = ok(zstd ? new String[] {"diff", path("base.safetensors"), path("tuned.safetensors"), "--zstd", "-o",
                    path("p.patch"), "--json"} : new String[] {"diff", path("base.safetensors"), path("tuned.safetensors"), "-o",
                    patch, "--json"}).out();
                assertTrue(json.contains("\"entries\" : " + base.differences(tuned) + ","), dtype + ": " + json);
                assertTrue(json.contains("\"out\" : \"" + patch + "\""), "a compressed patch's name ends in .zst: " + json);
                ok("apply", path("base.safetensors"), patch, "-o", path("applied.safetensors"));
                assertHolds(tuned, dir.resolve("applied.safetensors"));
                ok("revert", path("applied.safetensors"), patch, "-o", path("reverted.safetensors"));
                assertHolds(base, dir.resolve("reverted.safetensors"));
            }
            assertTrue(Files.size(dir.resolve("p.patch.zst")) < Files.size(dir.resolve("p.patch")), dtype + ": compressed");
        }
    }

    @Test
    void aMaskKeepsOnlyTheChangesInsideIt() throws IOException {
        Model base = random(DType.BF16, 3);
        Model tuned = base.changed(0.5, 4);
        base.write(dir.resolve("base.safetensors"));
        tuned.write(dir.resolve("tuned.safetensors"));
        long[] masked = {0, 3, 4, 20, 143};
        try (TensorScope scope = TensorScope.open()) {
            SparseMask.fromIndices(Map.of("layer.0.weight", new long[] {16, 9}), Map.of("layer.0.weight", masked))
                    .save(dir.resolve("mask.safetensors"));
        }
        ok("diff", path("base.safetensors"), path("tuned.safetensors"), "--mask", path("mask.safetensors"), "-o", path("p.patch"));
        ok("apply", path("base.safetensors"), path("p.patch"), "-o", path("applied.safetensors"));
        Map<String, byte[]> expected = new LinkedHashMap<>(base.bytes());
        byte[] weight = base.bytes().get("layer.0.weight").clone();
        for (long i : masked) {
            System.arraycopy(tuned.bytes().get("layer.0.weight"), (int) i * 2, weight, (int) i * 2, 2);
        }
        expected.put("layer.0.weight", weight);
        assertHolds(new Model(base.dtypes(), base.shapes(), expected), dir.resolve("applied.safetensors"));
    }

    @Test
    void wrongModelsAreRefusedWithoutOutput() throws IOException {
        Model base = random(DType.F32, 5);
        Model tuned = base.changed(0.2, 6);
        base.write(dir.resolve("base.safetensors"));
        tuned.write(dir.resolve("tuned.safetensors"));
        base.changed(0.01, 7).write(dir.resolve("other.safetensors"));
        ok("diff", path("base.safetensors"), path("tuned.safetensors"), "-o", path("p.patch"));
        List<String> before = listing(dir);
        fails(1, List.of("tessera apply: " + path("p.patch") + " does not apply to " + path("other.safetensors") + ": ",
            "was made for the base model with digest"), "apply", path("other.safetensors"), path("p.patch"), "-o", path("out"));
        fails(1, List.of("tessera revert: " + path("p.patch") + " does not revert " + path("base.safetensors") + ": ",
            "differs from the patch's values"), "revert", path("base.safetensors"), path("p.patch"), "-o", path("out"));
        assertEquals(before, listing(dir), "no output, no temporary left behind");
        Map<String, byte[]> more = new LinkedHashMap<>(tuned.bytes()); // holds the patch, and a change outside it
        byte[] weight = more.get("layer.0.weight").clone();
        int unpatched = 0;
        while (!Arrays.equals(weight, unpatched * 4, unpatched * 4 + 4, base.bytes().get("layer.0.weight"), unpatched * 4,
                unpatched * 4 + 4)) {
            unpatched++;
        }
        weight[unpatched * 4] ^= 1;
        more.put("layer.0.weight", weight);
        new Model(base.dtypes(), base.shapes(), more).write(dir.resolve("more.safetensors"));
        fails(1, List.of("does not revert " + path("more.safetensors"), "the model differs from the base outside the patch"),
                "revert", path("more.safetensors"), path("p.patch"), "-o", path("out"));
        Map<String, long[]> shapes = new LinkedHashMap<>(base.shapes());
        shapes.put("layer.0.bias", new long[] {4, 4});
        new Model(base.dtypes(), shapes, base.bytes()).write(dir.resolve("reshaped.safetensors"));
        Map<String, byte[]> renamed = new LinkedHashMap<>(base.bytes());
        renamed.put("layer.0.bias2", renamed.remove("layer.0.bias"));
        Map<String, DType> renamedTypes = new LinkedHashMap<>(base.dtypes());
        renamedTypes.put("layer.0.bias2", renamedTypes.get("layer.0.bias"));
        Map<String, long[]> renamedShapes = new LinkedHashMap<>(base.shapes());
        renamedShapes.put("layer.0.bias2", renamedShapes.get("layer.0.bias"));
        new Model(renamedTypes, renamedShapes, renamed).write(dir.resolve("renamed.safetensors"));
        before = listing(dir);
        fails(1, List.of("tessera diff: " + path("reshaped.safetensors") + " against " + path("base.safetensors"),
            "tensor 'layer.0.bias' is"), "diff", path("base.safetensors"), path("reshaped.safetensors"), "-o", path("q.patch"));
        fails(1, List.of("tessera diff: " + path("renamed.safetensors") + " against " + path("base.safetensors"), "layer.0.bias2"),
                "diff", path("base.safetensors"), path("renamed.safetensors"), "-o", path("q.patch"));
        fails(1, List.of("tessera apply: " + path("p.patch") + " does not apply to " + path("reshaped.safetensors")), "apply",
                path("reshaped.safetensors"), path("p.patch"), "-o", path("out"));
        assertEquals(before, listing(dir), "no output, no temporary left behind");
    }

    @Test
    void badFilesAreOneLineNamingTheFileWithoutOutput() throws IOException {
        Model base = random(DType.BF16, 9);
        base.write(dir.resolve("base.safetensors"));
        base.changed(0.3, 10).write(dir.resolve("tuned.safetensors"));
        ok("diff", path("base.safetensors"), path("tuned.safetensors"), "-o", path("p.patch"));
        ok("diff", path("base.safetensors"), path("tuned.safetensors"), "--zstd", "-o", path("p.patch.zst"));
        byte[] plain = Files.readAllBytes(dir.resolve("p.patch"));
        byte[] compressed = Files.readAllBytes(dir.resolve("p.patch.zst"));
        Files.write(dir.resolve("truncated.patch"), Arrays.copyOf(plain, plain.length - 5));
        Files.write(dir.resolve("truncated.patch.zst"), Arrays.copyOf(compressed, compressed.length / 2));
        byte[] flipped = plain.clone();
        flipped[flipped.length - 3] ^= 1;
        Files.write(dir.resolve("corrupt.patch"), flipped);
        Files.createDirectory(dir.resolve("folder"));
        List<String> before = listing(dir);
        String out = path("out.safetensors");
        for (String patch : new String[] {"truncated.patch", "truncated.patch.zst", "corrupt.patch"}) {
            fails(1, List.of("tessera apply: " + path(patch)), "apply", path("base.safetensors"), path(patch), "-o", out);
            fails(1, List.of("tessera revert: " + path(patch)), "revert", path("tuned.safetensors"), path(patch), "-o", out);
        }
        fails(1, List.of("tessera apply: no such file: " + path("missing")), "apply", path("base.safetensors"), path("missing"),
                "-o", out);
        fails(1, List.of("tessera apply: no such file: " + path("missing")), "apply", path("missing"), path("p.patch"), "-o", out);
        // a directory is read as a Hugging Face model directory
        fails(1, List.of("tessera revert: " + path("folder") + " holds no .safetensors file"), "revert", path("folder"),
                path("p.patch"), "-o", path("out"));
        fails(1, List.of("tessera diff: " + path("folder") + " holds no .safetensors file"), "diff", path("base.safetensors"),
                path("folder"), "-o", path("q.patch"));
        fails(1, List.of("tessera diff: no such file: " + path("missing")), "diff", path("missing"), path("tuned.safetensors"),
                "-o", path("q.patch"));
        fails(1, List.of("tessera apply: cannot write " + path("folder") + ": it is a directory"), "apply",
                path("base.safetensors"), path("p.patch"), "-o", path("folder"));
        Files.write(dir.resolve("empty.patch"), new byte[0]);
        fails(1, List.of("tessera apply: " + path("empty.patch") + ": file is 0 bytes long"), "apply", path("base.safetensors"),
                path("empty.patch"), "-o", out);
        fails(1, List.of("tessera diff: " + path("empty.patch") + ": file is 0 bytes long"), "diff", path("base.safetensors"),
                path("empty.patch"), "-o", path("q.patch"));
        try (TensorScope scope = TensorScope.open(); SafetensorsFile b = Safetensors.read(dir.resolve("base.safetensors"));
             SafetensorsFile t = Safetensors.read(dir.resolve("tuned.safetensors"))) {
            Patch.diff(b.tensors(), t.tensors(), "library default").save(dir.resolve("small.patch"), Compression.NONE);
        }
        fails(1, List.of("tessera revert: " + path("small.patch") + " does not carry the values it replaces"), "revert",
                path("tuned.safetensors"), path("small.patch"), "-o", out);
        before = listing(dir);
        fails(2, List.of("tessera diff: -o " + path("q.zst") + " names a compressed patch (.zst): add --zstd"), "diff",
                path("base.safetensors"), path("tuned.safetensors"), "-o", path("q.zst"));
        assertEquals(before, listing(dir), "no output, no temporary left behind");
        assertFalse(Files.exists(dir.resolve("out.safetensors")));
    }
}
