package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.io.SafetensorsFormatException;
import io.tessera.pipeline.Bf16Products;
import io.tessera.pipeline.HalfWeights;
import io.tessera.pipeline.Quantization;
import io.tessera.pipeline.QuantizationConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class HfCheckpointTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void savedModelsLoadBackWithTheSameWeightsAndLogits() throws IOException {
        ModelConfig llama = ModelConfig.llama(50, 16, 24, 2, 4, 1, 32).withRopeScaling(new ModelConfig.Llama3Scaling(4, 1, 4, 8));
        for (ModelConfig config : new ModelConfig[] {ModelConfig.gpt2(50, 16, 2, 2, 32), llama}) {
            for (int shards : new int[] {1, 3}) {
                Path out = dir.resolve(config.modelType() + shards);
                try (CausalLm model = CausalLm.create(config, 7);
                     TensorScope scope = TensorScope.open();
                     GradMode off = GradMode.noGrad()) {
                    HfCheckpointWriter.save(model, out, shards);
                    try (CausalLm loaded = HfCheckpoint.load(out)) {
                        assertEquals(config, loaded.config());
                        model.stateDict().forEach((name, t) ->
                                assertArrayEquals(t.toFloatArray(), loaded.stateDict().get(name).toFloatArray(), name));
                        Tensor ids = Tensor.of(new long[] {1, 2, 3, 49}, 1, 4);
                        assertArrayEquals(model.forward(ids, null).toFloatArray(), loaded.forward(ids, null).toFloatArray());
                    }
                }
                assertEquals(shards == 1, Files.exists(out.resolve(HfCheckpoint.SINGLE)));
                assertEquals(shards == 3, Files.exists(out.resolve(HfCheckpoint.INDEX)));
            }
        }
        try (SafetensorsFile gpt2 = Safetensors.read(dir.resolve("gpt21").resolve(HfCheckpoint.SINGLE));
             SafetensorsFile llama1 = Safetensors.read(dir.resolve("llama1").resolve(HfCheckpoint.SINGLE))) {
            assertEquals(Map.of("format", "pt"), gpt2.metadata());
            assertTrue(gpt2.tensors().containsKey("transformer.h.1.attn.c_attn.weight"), gpt2.tensors().keySet().toString());
            assertArrayEquals(new long[] {16, 48}, gpt2.tensor("transformer.h.1.attn.c_attn.weight").shape(), "Conv1D is [in, out]");
            assertTrue(llama1.tensors().containsKey("model.layers.0.self_attn.k_proj.weight")
                    && llama1.tensors().containsKey("lm_head.weight"), llama1.tensors().keySet().toString());
            assertArrayEquals(new long[] {4, 16}, llama1.tensor("model.layers.0.self_attn.k_proj.weight").shape(), "one KV head");
        }
    }

    @Test
    void f32WeightsAreViewsOfTheMappedFileUnlessCopied() throws IOException {
        for (boolean copy : new boolean[] {false, true}) {
            try (CausalLm model = HfCheckpoint.load(ReferenceLogitsTest.fixture("llama-tiny"), copy)) {
                model.stateDict().forEach((name, t) ->
                        assertEquals(!copy, ((HostStorage) t.storage()).segment().isReadOnly(), name + " read-only, copy " + copy));
                Tensor q = model.stateDict().get("layers.0.self_attn.q_proj.weight");
                if (copy) {
                    InPlace.scale(q, 0.5);
                } else {
                    var e = assertThrows(IllegalArgumentException.class, () -> InPlace.scale(q, 0.5));
                    assertTrue(e.getMessage().contains("read-only"), e.getMessage());
                }
            }
        }
        try (CausalLm bf16 = HfCheckpoint.load(ReferenceLogitsTest.fixture("qwen2-tiny-bf16"))) {
            Tensor w = bf16.stateDict().get("embed_tokens.weight");
            assertEquals(DType.F32, w.dtype(), "BF16 converted for F32 compute");
            assertTrue(!((HostStorage) w.storage()).segment().isReadOnly());
        }
    }

    /**
     * A BF16 or F16 checkpoint (single file and sharded) loaded for inference keeps every weight matrix and embedding in
     * its half precision, read in place: the same values as the F32 parameters {@link HfCheckpoint#load(Path)} converts
     * them to, the same logits up to summation order; closing the model unmaps the files (no leak, checked after all
     * tests).
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"BF16", "F16"})
    void halfPrecisionCheckpointsLoadForInferenceWithTheirWeightsAsStored(DType half) throws IOException {
        for (ModelConfig config : new ModelConfig[] {ModelConfig.gpt2(50, 16, 2, 2, 32), ModelConfig.llama(50, 16, 24, 2, 4, 1, 32)}) {
            for (int shards : new int[] {1, 2}) {
                Path out = dir.resolve(half + "-" + config.modelType() + shards);
                try (CausalLm model = CausalLm.create(config, 7)) {
                    HalfWeights.convert(model, half, true);
                    HfCheckpointWriter.save(model, out, shards);
                }
                try (CausalLm converted = HfCheckpoint.load(out);
                     CausalLm inPlace = HfCheckpoint.load(out, Bf16Products.EXACT);
                     TensorScope scope = TensorScope.open();
                     GradMode off = GradMode.noGrad()) {
                    Map<String, Tensor> kept = inPlace.stateDict();
                    converted.stateDict().forEach((name, t) -> {
                        assertEquals(t.rank() == 2 ? half : DType.F32, kept.get(name).dtype(), name);
                        assertArrayEquals(t.toFloatArray(), kept.get(name).to(DType.F32).toFloatArray(), name);
                    });
                    // 17 tokens (products past gemv.c: gemm_panels.c, or AMX for BF16) and one (gemv.c)
                    long[] tokens = {1, 2, 3, 49, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
                    for (int length : new int[] {tokens.length, 1}) {
                        Tensor ids = Tensor.of(Arrays.copyOf(tokens, length), 1, length);
                        float[] expected = converted.forward(ids, null).toFloatArray();
                        float[] actual = inPlace.forward(ids, null).toFloatArray();
                        double scale = 0;
                        for (float v : expected) {
                            scale = Math.max(scale, Math.abs(v));
                        }
                        for (int i = 0; i < expected.length; i++) {
                            assertEquals(expected[i], actual[i], 1e-5 * scale, half + " " + config.modelType() + " " + shards
                                    + " shards, " + length + " tokens, logit " + i);
                        }
                    }
                }
            }
        }
    }

    @Test
    void aMappedModelCanBeQuantizedLayerByLayer() throws IOException {
        // quantizing frees each float Linear; that must not unmap the file the other parameters still view
        try (CausalLm mapped = HfCheckpoint.load(ReferenceLogitsTest.fixture("llama-tiny"));
             CausalLm reference = HfCheckpoint.load(ReferenceLogitsTest.fixture("llama-tiny"), true);
             TensorScope scope = TensorScope.open();
             GradMode off = GradMode.noGrad()) {
            QuantizationConfig config = QuantizationConfig.defaults();
            assertEquals(Quantization.quantize(reference, config), Quantization.quantize(mapped, config));
            Tensor ids = Tensor.of(new long[] {5, 17, 42, 3}, 1, 4);
            assertArrayEquals(reference.forward(ids, null).toFloatArray(), mapped.forward(ids, null).toFloatArray());
        }
    }

    @Test
    void everyTensorProblemIsReportedAtOnceWithItsFile() throws IOException {
        Path model = dir.resolve("broken");
        Files.createDirectories(model);
        Files.copy(ReferenceLogitsTest.fixture("gpt2-tiny").resolve("config.json"), model.resolve("config.json"));
        Path weights = model.resolve(HfCheckpoint.SINGLE);
        try (SafetensorsFile original = Safetensors.read(ReferenceLogitsTest.fixture("gpt2-tiny").resolve(HfCheckpoint.SINGLE));
             TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> edited = new LinkedHashMap<>(original.tensors());
            edited.remove("transformer.h.1.mlp.c_fc.bias");
            edited.put("transformer.h.0.attn.c_proj.weight", Tensor.zeros(16, 32));
            edited.put("transformer.h.0.extra.weight", Tensor.zeros(2));
            Safetensors.write(weights, edited);
        }
        String m = assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.load(model)).getMessage();
        for (String expected : new String[] {"missing tensor transformer.h.1.mlp.c_fc.bias (looked in [" + weights + "])",
            "unexpected tensor transformer.h.0.extra.weight in " + weights,
            "transformer.h.0.attn.c_proj.weight in " + weights + " is f32[16, 32] on cpu, expected f32[32, 32]"}) {
            assertTrue(m.contains(expected), "no '" + expected + "' in: " + m);
        }
    }

    @Test
    void shardsMustHoldWhatTheIndexSays() throws IOException {
        Path model = dir.resolve("sharded");
        Files.createDirectories(model);
        Path llama = ReferenceLogitsTest.fixture("llama-tiny");
        try (var files = Files.list(llama)) {
            for (Path f : files.toList()) {
                Files.copy(f, model.resolve(f.getFileName()));
            }
        }
        Path index = model.resolve(HfCheckpoint.INDEX);
        String text = Files.readString(index);
        String moved = "\"model.norm.weight\": \"model-0000";
        int at = text.indexOf(moved) + moved.length();
        char shard = text.charAt(at);
        Files.writeString(index, text.substring(0, at) + (shard == '1' ? '2' : '1') + text.substring(at + 1));
        String m = assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.load(model)).getMessage();
        String actual = "model-0000" + shard + "-of-00002.safetensors";
        String listed = "model-0000" + (shard == '1' ? '2' : '1') + "-of-00002.safetensors";
        assertTrue(m.contains("model.norm.weight in " + model.resolve(actual) + " is not listed for that file")
                && m.contains("model.norm.weight is listed in " + HfCheckpoint.INDEX + " for " + listed + ", which has no such tensor")
                && m.contains("missing tensor model.norm.weight"), m);
    }

    @Test
    void aTiedHeadThatDiffersFromTheEmbeddingIsAnError() throws IOException {
        Path model = dir.resolve("tied");
        ModelConfig config = ModelConfig.gpt2(20, 8, 1, 2, 16);
        try (CausalLm lm = CausalLm.create(config, 3); TensorScope scope = TensorScope.open()) {
            HfCheckpointWriter.save(lm, model, 1);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            lm.stateDict().forEach((name, t) -> tensors.put(HfNames.hf(config, name), t));
            tensors.put("lm_head.weight", lm.stateDict().get("wte.weight"));
            Safetensors.write(model.resolve(HfCheckpoint.SINGLE), tensors);
            HfCheckpoint.load(model).close();
            tensors.put("lm_head.weight", Tensor.zeros(20, 8));
            Safetensors.write(model.resolve(HfCheckpoint.SINGLE), tensors);
        }
        String m = assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.load(model)).getMessage();
        assertTrue(m.contains("lm_head.weight differs from the embedding it is tied to"), m);
    }

    @Test
    void aSingleFileWinsOverAnIndexBesideIt() throws IOException {
        ModelConfig config = ModelConfig.gpt2(20, 8, 1, 2, 16);
        Path model = dir.resolve("both");
        try (CausalLm sharded = CausalLm.create(config, 1); CausalLm single = CausalLm.create(config, 2)) {
            HfCheckpointWriter.save(sharded, model, 2);
            Path other = dir.resolve("single");
            HfCheckpointWriter.save(single, other, 1);
            Files.copy(other.resolve(HfCheckpoint.SINGLE), model.resolve(HfCheckpoint.SINGLE));
            try (CausalLm loaded = HfCheckpoint.load(model)) {
                assertArrayEquals(single.stateDict().get("wte.weight").toFloatArray(), loaded.stateDict().get("wte.weight").toFloatArray());
            }
        }
    }

    @Test
    void aTruncatedShardIsNamedAndNothingLeaks() throws IOException {
        Path model = dir.resolve("truncated");
        Files.createDirectories(model);
        Path llama = ReferenceLogitsTest.fixture("llama-tiny");
        try (var files = Files.list(llama)) {
            for (Path f : files.toList()) {
                Files.copy(f, model.resolve(f.getFileName()));
            }
        }
        Path second = model.resolve("model-00002-of-00002.safetensors");
        byte[] bytes = Files.readAllBytes(second);
        Files.write(second, Arrays.copyOf(bytes, bytes.length - 100));
        var e = assertThrows(SafetensorsFormatException.class, () -> HfCheckpoint.load(model));
        assertTrue(e.getMessage().contains(second.toString()), e.getMessage());
    }

    @Test
    void missingFilesAreNamed() throws IOException {
        Path empty = dir.resolve("empty");
        Files.createDirectories(empty);
        var e = assertThrows(IOException.class, () -> HfCheckpoint.load(empty));
        assertTrue(e.getMessage().contains(empty.resolve("config.json").toString()), e.getMessage());
        Files.copy(ReferenceLogitsTest.fixture("gpt2-tiny").resolve("config.json"), empty.resolve("config.json"));
        e = assertThrows(IOException.class, () -> HfCheckpoint.load(empty));
        assertTrue(e.getMessage().contains(empty.resolve(HfCheckpoint.SINGLE).toString()), e.getMessage());
    }
}
