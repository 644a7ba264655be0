package io.tessera.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.VisionTransformer;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.FishMask;
import io.tessera.fisher.Merge;
import io.tessera.pipeline.Quantization;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.sparse.MaskedAdamW;
import io.tessera.sparse.Patch;
import io.tessera.sparse.SparseMask;
import io.tessera.sparse.TensorMask;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo's model through every library step the demo takes, on random images: Fisher, a FISH mask, masked AdamW
 * with compact gradients (only masked entries move), a patch file that turns the base into the tuned model, a Fisher
 * merge against its formula in float64, the average, int8 layers close to the float ones, and the file round trip.
 */
class VisionTransformerPipelineTest {
    private static final VisionTransformer.Config CONFIG = new VisionTransformer.Config(14, 7, 12, 3, 2, 5);
    private static final int EXAMPLES = 23;

    @Test
    void maskPatchMergeAndInt8WorkOnTheVit(@TempDir Path dir) throws Exception {
        SplittableRandom rng = new SplittableRandom(17);
        float[] pixels = new float[(int) (EXAMPLES * CONFIG.pixels())];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (float) rng.nextDouble();
        }
        int[] labels = rng.ints(EXAMPLES, 0, (int) CONFIG.classes()).toArray();
        try (VisionTransformer base = new VisionTransformer(CONFIG, 2); VisionTransformer tuned = new VisionTransformer(CONFIG, 0);
             TensorScope scope = TensorScope.open()) {
            Tensor images = Tensor.of(pixels, EXAMPLES, CONFIG.pixels());
            Tensor targets = Tensor.of(labels, EXAMPLES);
            Map<String, Tensor> fisher = DiagonalFisher.of(base, base::forward, images, targets, DiagonalFisher.Labels.EMPIRICAL, 0, 8);
            SparseMask mask = FishMask.of(fisher, 0.03, Set.of());
            assertEquals(Math.round(0.03 * base.parameterCount()), mask.count(), 1.0);

            tuned.loadStateDict(base.stateDict(), true);
            double first;
            double last = Double.NaN;
            try (MaskedAdamW optimizer = new MaskedAdamW(tuned.namedParameters(), mask, 1e-2)) {
                optimizer.compactGradients();
                first = step(tuned, optimizer, images, targets);
                for (int i = 0; i < 20; i++) {
                    last = step(tuned, optimizer, images, targets);
                }
            }
            assertTrue(last < first, "masked training lowers the loss: " + first + " -> " + last);
            long moved = 0;
            for (var entry : base.stateDict().entrySet()) {
                float[] before = entry.getValue().toFloatArray();
                float[] after = tuned.stateDict().get(entry.getKey()).toFloatArray();
                TensorMask m = mask.tensors().get(entry.getKey());
                for (int i = 0; i < before.length; i++) {
                    if (m == null || !m.contains(i)) {
                        assertEquals(before[i], after[i], 0.0, entry.getKey() + "[" + i + "] is outside the mask");
                    } else if (before[i] != after[i]) {
                        moved++;
                    }
                }
            }
            assertTrue(moved > mask.count() / 2, moved + " of " + mask.count() + " masked entries moved");

            Path patchFile = dir.resolve("p.safetensors");
            Patch.diff(base.stateDict(), tuned.stateDict(), mask, "test").save(patchFile, io.tessera.sparse.Compression.ZSTD);
            Map<String, Tensor> patched = Patch.load(patchFile).apply(base.stateDict());
            tuned.stateDict().forEach((name, t) -> assertArrayEquals(t.toFloatArray(), patched.get(name).toFloatArray(), name));

            Map<String, Tensor> tunedFisher = DiagonalFisher.of(tuned, tuned::forward, images, targets, DiagonalFisher.Labels.EMPIRICAL,
                    0, 8);
            List<Map<String, Tensor>> models = List.of(base.stateDict(), tuned.stateDict());
            Map<String, Tensor> merged = Merge.fisherWeighted(models, List.of(fisher, tunedFisher), new double[] {1, 1}, 1e-6, false);
            Map<String, Tensor> averaged = Merge.average(models, new double[] {1, 1});
            for (String name : merged.keySet()) {
                float[] a = base.stateDict().get(name).toFloatArray();
                float[] b = tuned.stateDict().get(name).toFloatArray();
                float[] fa = fisher.get(name).toFloatArray();
                float[] fb = tunedFisher.get(name).toFloatArray();
                float[] m = merged.get(name).toFloatArray();
                float[] avg = averaged.get(name).toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    double wa = Math.max(fa[i], 1e-6);
                    double wb = Math.max(fb[i], 1e-6);
                    assertEquals((wa * a[i] + wb * b[i]) / (wa + wb), m[i], 1e-6 + 1e-5 * Math.abs(m[i]), name + "[" + i + "]");
                    assertEquals(((double) a[i] + b[i]) / 2, avg[i], 1e-6, name + "[" + i + "]");
                }
            }
            fisher.values().forEach(Tensor::close);
            tunedFisher.values().forEach(Tensor::close);

            Path file = dir.resolve("tuned.safetensors");
            VitFiles.save(file, tuned.stateDict(), CONFIG, Map.of());
            float[] expected;
            try (GradMode off = GradMode.noGrad()) {
                expected = tuned.forward(images).toFloatArray();
            }
            try (VisionTransformer loaded = VitFiles.load(file); GradMode off = GradMode.noGrad()) {
                assertEquals(CONFIG, loaded.config());
                assertArrayEquals(expected, loaded.forward(images).toFloatArray());
                List<String> layers = Quantization.quantize(loaded, QuantizationConfig.defaults());
                assertTrue(layers.containsAll(List.of("patch_embed", "h.0.attn.c_attn", "h.1.mlp.c_proj", "head")), layers.toString());
                float[] int8 = loaded.forward(images).toFloatArray();
                double scale = 0;
                for (float v : expected) {
                    scale = Math.max(scale, Math.abs(v));
                }
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], int8[i], 0.05 * scale, "int8 logit " + i);
                }
            }
        }
    }

    private static double step(VisionTransformer model, MaskedAdamW optimizer, Tensor images, Tensor targets) {
        try (TensorScope scope = TensorScope.open()) {
            Tensor loss = model.forward(images).crossEntropy(targets);
            optimizer.zeroGrad();
            loss.backward();
            optimizer.step();
            return loss.item();
        }
    }
}
