package io.tessera.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.data.FashionMnist;
import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.nn.TransformerBlock;
import io.tessera.engine.optim.AdamW;
import io.tessera.train.ClassifierTraining;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class QuantizationTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /**
     * The acceptance check in small: an MLP 784-256-10 trained for two epochs on 6000 Fashion-MNIST images loses
     * at most 0.5 accuracy points on 2000 test images when quantized to int8 (the full figure, 60000 / 10000
     * images, is in the issue note; `scripts/tessera quantize` reproduces it).
     */
    @Test
    void fashionMnistMlpLosesAtMostHalfAPointWhenQuantized() {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR),
                "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
        FashionMnist.Split train = FashionMnist.train(FashionMnist.DEFAULT_DIR, 6000);
        FashionMnist.Split test = FashionMnist.test(FashionMnist.DEFAULT_DIR, 2000);
        try (Mlp model = new Mlp(1, 784, 256, 10)) {
            try (AdamW optimizer = new AdamW(model.parameters(), 1e-3)) {
                for (int epoch = 1; epoch <= 2; epoch++) {
                    ClassifierTraining.trainEpoch(model::forward, optimizer, train, 64, 7, epoch, (e, s, n, loss) -> {});
                }
            }
            double floatAccuracy = ClassifierTraining.accuracy(model::forward, test, 500);
            assertEquals(List.of("0", "2"), Quantization.quantize(model, QuantizationConfig.defaults()));
            double int8Accuracy = ClassifierTraining.accuracy(model::forward, test, 500);
            System.out.printf("Fashion-MNIST MLP, 2000 test images: float32 %.2f%%, int8 %.2f%%%n", 100 * floatAccuracy,
                    100 * int8Accuracy);
            assertTrue(floatAccuracy > 0.75, "the float model should have learned something: " + floatAccuracy);
            assertTrue(int8Accuracy >= floatAccuracy - 0.005, "int8 " + int8Accuracy + " vs float32 " + floatAccuracy);
        }
    }

    @Test
    void quantizesEveryLinearExceptTheOnesKeptInFloatAndRejectsUnknownNames() {
        try (Mlp model = new Mlp(2, 12, 9, 5); TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
            Tensor x = Tensor.randn(4, 0, 3, 12);
            float[] before = model.forward(x).toFloatArray();
            String unknown = assertThrows(IllegalArgumentException.class,
                    () -> Quantization.quantize(model, QuantizationConfig.defaults().keeping("2", "head"))).getMessage();
            assertTrue(unknown.contains("[head]") && unknown.contains("[0, 2]"), unknown);
            assertEquals(List.of("0"), Quantization.quantize(model, QuantizationConfig.defaults().keeping("2")));
            assertEquals(List.of("0.weight", "0.weight_scale", "0.bias", "2.weight", "2.bias"), List.copyOf(model.stateDict().keySet()));
            assertEquals(List.of("2.weight", "2.bias"), List.copyOf(model.namedParameters().keySet()));
            float[] after = model.forward(x).toFloatArray();
            for (int i = 0; i < before.length; i++) {
                assertEquals(before[i], after[i], 0.05 * (Math.abs(before[i]) + 0.1), "output " + i);
            }
            assertThrows(IllegalStateException.class, model::layers); // no longer all float Linear layers
        }
    }

    @Test
    void gpt2BlockWithConv1dLayersRunsQuantizedCloseToFloat() {
        try (TransformerBlock block = new TransformerBlock(64, 4, 9); TensorScope scope = TensorScope.open();
             GradMode off = GradMode.noGrad()) {
            Tensor x = Tensor.randn(5, 0, 2, 7, 64);
            float[] before = block.forward(x, null).toFloatArray();
            assertEquals(List.of("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"),
                    Quantization.quantize(block, QuantizationConfig.defaults()));
            float[] after = block.forward(x, null).toFloatArray();
            double err = 0;
            double norm = 0;
            for (int i = 0; i < before.length; i++) {
                err += (after[i] - before[i]) * (after[i] - before[i]);
                norm += before[i] * before[i];
            }
            assertTrue(Math.sqrt(err / norm) < 2e-2, "relative error " + Math.sqrt(err / norm));
        }
    }

    @Test
    void quantizedCheckpointsRoundTripBitForBitAndAreAboutFourTimesSmaller() throws IOException {
        Path floatFile = dir.resolve("float.safetensors");
        Path int8File = dir.resolve("int8.safetensors");
        try (Mlp model = new Mlp(3, 300, 200, 10); TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
            Safetensors.write(floatFile, model.stateDict());
            Quantization.quantize(model, QuantizationConfig.defaults().keeping("2").withoutOutliers());
            QuantizedCheckpoint.save(int8File, model, Map.of("architecture", "mlp [300, 200, 10]"));
            Tensor x = Tensor.randn(6, 0, 5, 300);
            float[] expected = model.forward(x).toFloatArray();
            try (SafetensorsFile file = Safetensors.read(int8File); Mlp loaded = new Mlp(0, 300, 200, 10)) {
                assertEquals("0=inf", file.metadata().get(QuantizedCheckpoint.LAYERS));
                assertEquals("mlp [300, 200, 10]", file.metadata().get("architecture"));
                QuantizedCheckpoint.load(file, loaded);
                assertArrayEquals(expected, loaded.forward(x).toFloatArray());
                assertEquals(DType.I8, loaded.stateDict().get("0.weight").dtype());
            }
            double ratio = (double) Files.size(floatFile) / Files.size(int8File);
            assertTrue(ratio > 3.3, "float " + Files.size(floatFile) + " B vs int8 " + Files.size(int8File) + " B");
        }
    }

    @Test
    void aCheckpointWhoseCheckFailsIsNotWrittenAndLeavesNoTemporaryFile() throws IOException {
        Path int8File = dir.resolve("int8.safetensors");
        try (Mlp model = new Mlp(3, 30, 20, 10); GradMode off = GradMode.noGrad()) {
            Quantization.quantize(model, QuantizationConfig.defaults());
            IOException e = assertThrows(IOException.class, () -> QuantizedCheckpoint.save(int8File, model, Map.of(), written -> {
                try (SafetensorsFile file = Safetensors.read(written)) {
                    assertEquals("0=6.0,2=6.0", file.metadata().get(QuantizedCheckpoint.LAYERS), "the check reads what was written");
                }
                throw new IOException("the evaluation failed");
            }));
            assertEquals("the evaluation failed", e.getMessage());
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.toList());
        }
    }

    @Test
    void loadingRejectsFilesThatAreNotQuantizedCheckpointsOrDoNotFitTheModel() throws IOException {
        Path plain = dir.resolve("plain.safetensors");
        Path wrongLayer = dir.resolve("wrong-layer.safetensors");
        Path badThreshold = dir.resolve("bad-threshold.safetensors");
        try (Mlp model = new Mlp(3, 8, 6, 4)) {
            Safetensors.write(plain, model.stateDict());
            Safetensors.write(wrongLayer, model.stateDict(), Map.of(QuantizedCheckpoint.LAYERS, "4=6.0"));
            Safetensors.write(badThreshold, model.stateDict(), Map.of(QuantizedCheckpoint.LAYERS, "0=-1"));
        }
        for (var entry : Map.of(plain, "not a quantized checkpoint", wrongLayer, "[4]", badThreshold, "'0=-1'").entrySet()) {
            try (SafetensorsFile file = Safetensors.read(entry.getKey()); Mlp skeleton = new Mlp(0, 8, 6, 4)) {
                String message = assertThrows(IllegalArgumentException.class, () -> QuantizedCheckpoint.load(file, skeleton)).getMessage();
                assertTrue(message.contains(entry.getKey().toString()) && message.contains(entry.getValue()), message);
            }
        }
        // float tensors where the file promises int8 codes: the dtype check names them
        Path floatCodes = dir.resolve("float-codes.safetensors");
        try (Mlp model = new Mlp(3, 8, 6, 4); TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> state = new java.util.LinkedHashMap<>(model.stateDict());
            state.put("0.weight_scale", Tensor.ones(6));
            Safetensors.write(floatCodes, state, Map.of(QuantizedCheckpoint.LAYERS, "0=6.0"));
        }
        try (SafetensorsFile file = Safetensors.read(floatCodes); Mlp skeleton = new Mlp(0, 8, 6, 4)) {
            String message = assertThrows(IllegalArgumentException.class, () -> QuantizedCheckpoint.load(file, skeleton)).getMessage();
            assertTrue(message.contains("dtype mismatch for 0.weight"), message);
        }
    }

    @ParameterizedTest(name = "block {0}")
    @ValueSource(ints = {64, 256, 4096})
    void blockwiseStorageRoundTripsWithinHalfAStepPerBlock(int block) throws IOException {
        Path file = dir.resolve("blockwise-" + block + ".safetensors");
        try (Mlp model = new Mlp(4, 300, 70, 10); TensorScope scope = TensorScope.open()) {
            BlockwiseInt8.save(file, model.stateDict(), block, Map.of("architecture", "mlp [300, 70, 10]"));
            try (SafetensorsFile stored = Safetensors.read(file)) {
                Map<String, Tensor> back = BlockwiseInt8.load(stored);
                assertEquals(model.stateDict().keySet(), back.keySet());
                for (var entry : model.stateDict().entrySet()) {
                    float[] original = entry.getValue().toFloatArray();
                    float[] restored = back.get(entry.getKey()).toFloatArray();
                    assertArrayEquals(entry.getValue().shape(), back.get(entry.getKey()).shape());
                    for (int from = 0; from < original.length; from += block) {
                        float absmax = 0;
                        for (int i = from; i < Math.min(original.length, from + block); i++) {
                            absmax = Math.max(absmax, Math.abs(original[i]));
                        }
                        for (int i = from; i < Math.min(original.length, from + block); i++) {
                            assertTrue(Math.abs(restored[i] - original[i]) <= absmax / 254 * (1 + 1e-5), entry.getKey() + "[" + i + "]");
                        }
                    }
                }
                back.values().forEach(Tensor::close);
            }
        }
    }
}
