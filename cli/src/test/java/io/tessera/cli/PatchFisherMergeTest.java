package io.tessera.cli;

import static io.tessera.cli.CliRunner.fails;
import static io.tessera.cli.CliRunner.listing;
import static io.tessera.cli.CliRunner.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Patches carrying their contributor's Fisher (tessera diff --fisher): a Fisher merge over them, without the
 * contributors' Fisher files, writes the same file as a Fisher merge of the patched models with dense Fisher
 * files that hold the contributor's values at the patched entries and 0 elsewhere (built here, independently).
 */
class PatchFisherMergeTest {
    @TempDir
    Path dir;

    private static final String[] NAMES = {"layer.weight", "layer.bias"};
    private static final int[] SIZES = {30, 6};
    private static final long[][] SHAPES = {{6, 5}, {6}};

    private void write(String name, float[][] values) throws IOException {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (int t = 0; t < NAMES.length; t++) {
                tensors.put(NAMES[t], Tensor.of(values[t], SHAPES[t]));
            }
            Safetensors.write(dir.resolve(name), tensors, Map.of());
        }
    }

    private static float[][] random(SplittableRandom rng, boolean positive) {
        float[][] out = new float[NAMES.length][];
        for (int t = 0; t < NAMES.length; t++) {
            out[t] = new float[SIZES[t]];
            for (int i = 0; i < SIZES[t]; i++) {
                out[t][i] = (float) (positive ? rng.nextDouble() + 0.01 : rng.nextGaussian());
            }
        }
        return out;
    }

    /** The base with every third entry (from {@code offset}) changed. */
    private static float[][] tuned(float[][] base, int offset, SplittableRandom rng) {
        float[][] out = new float[base.length][];
        for (int t = 0; t < base.length; t++) {
            out[t] = base[t].clone();
            for (int i = offset; i < out[t].length; i += 3) {
                out[t][i] += (float) rng.nextGaussian();
            }
        }
        return out;
    }

    /** The Fisher where {@code tuned} differs from {@code base}, 0 elsewhere. */
    private static float[][] onChanges(float[][] fisher, float[][] base, float[][] tuned) {
        float[][] out = new float[fisher.length][];
        for (int t = 0; t < fisher.length; t++) {
            out[t] = new float[fisher[t].length];
            for (int i = 0; i < out[t].length; i++) {
                out[t][i] = base[t][i] != tuned[t][i] ? fisher[t][i] : 0;
            }
        }
        return out;
    }

    private String path(String name) {
        return dir.resolve(name).toString();
    }

    @Test
    void aFisherMergeOfPatchesUsesTheFisherTheyCarry() throws IOException {
        SplittableRandom rng = new SplittableRandom(11);
        float[][] base = random(rng, false);
        float[][] a = tuned(base, 0, rng);
        float[][] b = tuned(base, 1, rng);
        float[][] fa = random(rng, true);
        float[][] fb = random(rng, true);
        write("base.safetensors", base);
        write("a.safetensors", a);
        write("b.safetensors", b);
        write("fa.safetensors", fa);
        write("fb.safetensors", fb);
        write("fa-dense.safetensors", onChanges(fa, base, a));
        write("fb-dense.safetensors", onChanges(fb, base, b));
        ok("diff", path("base.safetensors"), path("a.safetensors"), "--fisher", path("fa.safetensors"), "-o", path("a.patch"));
        ok("diff", path("base.safetensors"), path("b.safetensors"), "--fisher", path("fb.safetensors"), "--zstd", "-o",
                path("b.patch"));
        Files.writeString(dir.resolve("patches.yaml"), """
                method: fisher
                base: base.safetensors
                models:
                  - {patch: a.patch, weight: 0.4}
                  - {patch: b.patch.zst, weight: 0.6}
                out: from-patches.safetensors
                """);
        ok("merge", path("patches.yaml"));
        ok("merge", "--method", "fisher", "--base", path("base.safetensors"), "--models", path("a.patch") + "," + path("b.patch.zst"),
                "--weights", "0.4,0.6", "-o", path("from-patch-flags.safetensors"));
        assertEquals(-1, Files.mismatch(dir.resolve("from-patches.safetensors"), dir.resolve("from-patch-flags.safetensors")),
                "flags and YAML over patches");
        ok("merge", "--method", "fisher", "--models", path("a.safetensors") + "," + path("b.safetensors"), "--fishers",
                path("fa-dense.safetensors") + "," + path("fb-dense.safetensors"), "--weights", "0.4,0.6", "-o",
                path("from-models.safetensors"));
        try (SafetensorsFile p = Safetensors.read(dir.resolve("from-patches.safetensors"));
             SafetensorsFile m = Safetensors.read(dir.resolve("from-models.safetensors"))) {
            for (String name : NAMES) {
                assertTrue(java.util.Arrays.equals(m.tensor(name).toByteArray(), p.tensor(name).toByteArray()), name);
            }
        }
        // entry 0 only a changes: the merge takes a's value there (b's weight is the floor's)
        float merged = readFirst("from-patches.safetensors");
        assertEquals(a[0][0], merged, 1e-5 * Math.abs(a[0][0]) + 1e-6);
    }

    private float readFirst(String file) throws IOException {
        try (SafetensorsFile f = Safetensors.read(dir.resolve(file))) {
            return f.tensor(NAMES[0]).toFloatArray()[0];
        }
    }

    @Test
    void aPatchWithoutFisherAndABadFisherAreRefused() throws IOException {
        SplittableRandom rng = new SplittableRandom(12);
        float[][] base = random(rng, false);
        write("base.safetensors", base);
        write("a.safetensors", tuned(base, 0, rng));
        float[][] negative = random(rng, true);
        negative[0][0] = -1;
        write("negative.safetensors", negative);
        try (TensorScope scope = TensorScope.open()) {
            Safetensors.write(dir.resolve("short.safetensors"), Map.of(NAMES[0], Tensor.of(new float[30], 30)), Map.of());
        }
        ok("diff", path("base.safetensors"), path("a.safetensors"), "-o", path("plain.patch"));
        Files.writeString(dir.resolve("m.yaml"), "method: fisher\nbase: base.safetensors\nmodels: [{patch: plain.patch}]\n"
                + "out: m.safetensors\n");
        List<String> before = listing(dir);
        fails(1, List.of("tessera merge: merge: ", "plain.patch carries no Fisher"), "merge", path("m.yaml"));
        fails(2, List.of("tessera merge: patches in --models need --base"), "merge", "--method", "average", "--models",
                path("plain.patch"), "-o", path("x.safetensors"));
        fails(2, List.of("tessera merge: --method fisher needs --fishers"), "merge", "--method", "fisher", "--base",
                path("base.safetensors"), "--models", path("plain.patch") + "," + path("a.safetensors"), "-o", path("x.safetensors"));
        fails(1, List.of("tessera diff: ", "negative.safetensors", "the Fisher value -1.0"), "diff", path("base.safetensors"),
                path("a.safetensors"), "--fisher", path("negative.safetensors"), "-o", path("x.patch"));
        fails(1, List.of("tessera diff: ", "short.safetensors", "'layer.bias'"), "diff", path("base.safetensors"),
                path("a.safetensors"), "--fisher", path("short.safetensors"), "-o", path("x.patch"));
        fails(1, List.of("tessera diff: ", "missing.safetensors"), "diff", path("base.safetensors"), path("a.safetensors"),
                "--fisher", path("missing.safetensors"), "-o", path("x.patch"));
        assertEquals(before, listing(dir), "no output, no temporary left behind");
    }
}
