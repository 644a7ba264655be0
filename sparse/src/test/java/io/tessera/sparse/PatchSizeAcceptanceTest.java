package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.Zstd;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsHeader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The size acceptance: a ~10M-parameter model (GPT-2-like shapes), a 0.5% mask, a patch of new
 * values on every masked entry. The uncompressed patch must be at most 1.1 x k x (index bytes + value
 * bytes) + header; the test prints it next to the zstd-compressed patch and the full model.
 */
class PatchSizeAcceptanceTest {
    private static final double DENSITY = 0.005;

    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private static Map<String, long[]> shapes() {
        Map<String, long[]> s = new LinkedHashMap<>();
        s.put("wte", new long[] {1100, 512});
        for (int layer = 0; layer < 2; layer++) {
            s.put("h." + layer + ".mlp.c_fc.weight", new long[] {768, 3072});
            s.put("h." + layer + ".mlp.c_fc.bias", new long[] {3072});
            s.put("h." + layer + ".mlp.c_proj.weight", new long[] {3072, 768});
            s.put("h." + layer + ".mlp.c_proj.bias", new long[] {768});
        }
        return s;
    }

    /** round(n * density) entries, one drawn uniformly from each of that many equal stretches of [0, n). */
    static long[] spread(long n, double density, SplittableRandom rng) {
        int k = (int) Math.round(n * density);
        long[] out = new long[k];
        for (int j = 0; j < k; j++) {
            long from = n * j / k;
            out[j] = from + rng.nextLong(n * (j + 1) / k - from);
        }
        return out;
    }

    @Test
    void uncompressedPatchOfAHalfPercentMaskStaysWithinTheBound() throws Exception {
        SplittableRandom rng = new SplittableRandom(5);
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = new LinkedHashMap<>();
            Map<String, Tensor> tuned = new LinkedHashMap<>();
            Map<String, long[]> indices = new LinkedHashMap<>();
            long params = 0;
            long seed = 0;
            for (Map.Entry<String, long[]> e : shapes().entrySet()) {
                Tensor b = Tensor.randn(17, seed++ << 32, e.getValue()).mul(0.02);
                Tensor t = b.add(0); // a copy
                long[] picked = spread(b.numel(), DENSITY, rng);
                MemorySegment bytes = HostTensors.writableBytes(t, e.getKey());
                for (long i : picked) { // a fine-tuning step's worth of change on each masked entry
                    float v = bytes.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                    bytes.setAtIndex(ValueLayout.JAVA_FLOAT, i, v + (float) (1e-3 * (rng.nextBoolean() ? 1 : -1)));
                }
                base.put(e.getKey(), b);
                tuned.put(e.getKey(), t);
                indices.put(e.getKey(), picked);
                params += b.numel();
            }
            SparseMask mask = SparseMask.fromIndices(shapes(), indices);
            Patch patch = Patch.diff(base, tuned, mask, "0.5% of a 10M-parameter model");
            long k = patch.count();
            assertEquals(mask.count(), k, "every masked entry changed");

            Path model = dir.resolve("model.safetensors");
            Safetensors.write(model, base);
            Path plain = dir.resolve("patch.safetensors");
            patch.save(plain, Compression.NONE);
            Path zstd = dir.resolve("patch.safetensors.zst");
            patch.save(zstd, Compression.ZSTD);
            long header = 8 + SafetensorsHeader.read(plain).headerLength();
            long plainBytes = Files.size(plain);
            long bound = (long) (1.1 * k * (4 + 4)) + header;
            long zstdOfAbsolute = Zstd.compress(Files.readAllBytes(plain), PatchFile.ZSTD_LEVEL).length;

            long start = System.nanoTime();
            VetReport report = Vetting.report(base, zstd, m -> 0);
            double vetSeconds = (System.nanoTime() - start) / 1e9;

            System.out.printf("acceptance: %d parameters, %d tensors, mask %d entries (%.3f%%)%n", params, base.size(), k,
                    100.0 * k / params);
            System.out.printf("acceptance: full model %d bytes; patch %d bytes uncompressed (header %d, bound %d), %d bytes zstd"
                    + " (level %d, delta indices; %d with absolute indices); vet %.2f s%n", Files.size(model), plainBytes, header,
                    bound, Files.size(zstd), PatchFile.ZSTD_LEVEL, zstdOfAbsolute, vetSeconds);
            assertTrue(plainBytes <= bound, plainBytes + " > " + bound);
            assertTrue(params >= 9_900_000 && params <= 10_100_000, "about 10M parameters: " + params);
            assertTrue(report.appliesCleanly() && report.clean(), report.format());
        }
    }
}
