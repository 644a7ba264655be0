package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.nn.Activation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfConfigTest {
    @TempDir
    Path dir;

    private Path write(String json) throws IOException {
        return Files.writeString(dir.resolve("config.json"), json);
    }

    @Test
    void eosTokenIdIsAnIdAListOrNone() throws IOException {
        assertArrayEquals(new long[] {50256}, HfConfig.eosTokenIds(write("{\"eos_token_id\": 50256}")));
        assertArrayEquals(new long[] {128001, 128009},
                HfConfig.eosTokenIds(write("{\"eos_token_id\": [128001, 128009]}")));
        assertArrayEquals(new long[0], HfConfig.eosTokenIds(write("{\"eos_token_id\": null}")));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> HfConfig.eosTokenIds(write("{\"eos_token_id\": \"x\"}")))
                .getMessage().contains("eos_token_id"));
    }

    @Test
    void generationStopsWhereGenerationConfigSaysWhenTheDirectoryHasOne() throws IOException {
        write("{\"eos_token_id\": 2}");
        assertArrayEquals(new long[] {2}, HfConfig.stopTokenIds(dir));
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [2, 32000]}");
        assertArrayEquals(new long[] {2, 32000}, HfConfig.stopTokenIds(dir));
        Files.writeString(dir.resolve("generation_config.json"), "{\"do_sample\": true}");
        assertArrayEquals(new long[0], HfConfig.stopTokenIds(dir), "as transformers: the generation config names no end");
    }

    @Test
    void readsGpt2WithItsDefaults() throws IOException {
        ModelConfig c = HfConfig.read(write("""
                {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "vocab_size": 50257,
                 "n_inner": null, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05}"""));
        assertEquals(new ModelConfig("gpt2", 50257, 768, 3072, Activation.GELU_TANH, 12, 12, 12, 64, 1024, 1e-5, 0, null, true, false,
                0), c);
    }

    @Test
    void readsGpt2sMlpWidthAndActivation() throws IOException {
        String shape = "\"model_type\": \"gpt2\", \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 64, "
                + "\"vocab_size\": 96, \"n_inner\": 40";
        for (Map.Entry<String, Activation> named : Map.of("gelu", Activation.GELU, "gelu_pytorch_tanh", Activation.GELU_TANH, "gelu_fast",
                Activation.GELU_TANH, "relu", Activation.RELU, "swish", Activation.SILU).entrySet()) {
            ModelConfig c = HfConfig.read(write("{" + shape + ", \"activation_function\": \"" + named.getKey() + "\"}"));
            assertEquals(40, c.intermediateSize());
            assertEquals(named.getValue(), c.activation(), named.getKey());
            Path written = dir.resolve("written-" + named.getKey() + ".json");
            HfConfig.write(c, written);
            assertEquals(c, HfConfig.read(written), "written and read back: " + named.getKey());
        }
    }

    @Test
    void readsLlama3WithGqaAndScaling() throws IOException {
        ModelConfig c = HfConfig.read(write("""
                {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                 "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
                 "max_position_embeddings": 131072, "vocab_size": 128256, "tie_word_embeddings": true, "hidden_act": "silu",
                 "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                  "original_max_position_embeddings": 8192, "rope_type": "llama3"}}"""));
        assertEquals(new ModelConfig("llama", 128256, 2048, 8192, Activation.SILU, 16, 32, 8, 64, 131072, 1e-5, 500000,
                new ModelConfig.Llama3Scaling(32, 1, 4, 8192), true, false, 0), c);
    }

    @Test
    void qwen2HasQkvBiasesAndMistralItsWindow() throws IOException {
        String common = """
                "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "max_position_embeddings": 256, "vocab_size": 100, "sliding_window": 128""";
        ModelConfig qwen = HfConfig.read(write("{\"model_type\": \"qwen2\", \"use_sliding_window\": false, " + common + "}"));
        assertTrue(qwen.qkvBias());
        assertEquals(0, qwen.slidingWindow(), "Qwen2 ignores sliding_window unless use_sliding_window");
        assertFalse(qwen.tieWordEmbeddings());
        ModelConfig mistral = HfConfig.read(write("{\"model_type\": \"mistral\", \"rope_scaling\": null, " + common + "}"));
        assertFalse(mistral.qkvBias());
        assertEquals(128, mistral.slidingWindow());
        assertNull(mistral.ropeScaling());
    }

    @Test
    void unknownModelTypeNamesTheKeyAndFile() throws IOException {
        Path file = write("{\"model_type\": \"bert\", \"hidden_size\": 8}");
        var e = assertThrows(IllegalArgumentException.class, () -> HfConfig.read(file));
        assertTrue(e.getMessage().startsWith(file.toString()) && e.getMessage().contains("model_type: unsupported value \"bert\""),
                e.getMessage());
    }

    @Test
    void everyProblemIsReportedAtOnce() throws IOException {
        Path file = write("""
                {"model_type": "llama", "hidden_size": 30, "intermediate_size": -1, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "max_position_embeddings": 64, "hidden_act": "gelu",
                 "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}""");
        var e = assertThrows(IllegalArgumentException.class, () -> HfConfig.read(file));
        String m = e.getMessage();
        for (String expected : new String[] {file.toString(), "vocab_size: missing", "intermediate_size: expected a positive integer",
            "hidden_act: unsupported value", "rope_scaling.rope_type: unsupported value \"yarn\"",
            "hidden_size (30) is not divisible by num_attention_heads (4)"}) {
            assertTrue(m.contains(expected), "no '" + expected + "' in: " + m);
        }
    }

    @Test
    void anUntiedGpt2IsRejected() throws IOException {
        Path file = write("""
                {"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2, "n_positions": 16, "vocab_size": 10,
                 "tie_word_embeddings": false, "activation_function": "quick_gelu"}""");
        String m = assertThrows(IllegalArgumentException.class, () -> HfConfig.read(file)).getMessage();
        assertTrue(m.contains("tie_word_embeddings: unsupported value false") && m.contains("activation_function: unsupported"), m);
    }

    @Test
    void llama3ScalingNeedsItsParameters() throws IOException {
        Path file = write("""
                {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "max_position_embeddings": 64, "vocab_size": 10, "rope_scaling": {"type": "llama3", "factor": 8.0}}""");
        String m = assertThrows(IllegalArgumentException.class, () -> HfConfig.read(file)).getMessage();
        assertTrue(m.contains("rope_scaling.low_freq_factor: missing") && m.contains("rope_scaling.high_freq_factor: missing"), m);
    }

    /** A config.json of a small LLaMA with {@code extra} keys (JSON written with single quotes) after its shape. */
    private Path smallLlama(String extra) throws IOException {
        return write(("{'model_type': 'llama', 'hidden_size': 32, 'intermediate_size': 64, 'num_hidden_layers': 2, "
                + "'num_attention_heads': 4, 'max_position_embeddings': 64, 'vocab_size': 10" + extra + "}").replace('\'', '"'));
    }

    @Test
    void readsTransformers5RopeParameters() throws IOException {
        ModelConfig plain = HfConfig.read(smallLlama(", 'rope_parameters': {'rope_type': 'default', 'rope_theta': 1000000.0}"));
        assertEquals(1e6, plain.ropeTheta());
        assertNull(plain.ropeScaling());
        ModelConfig scaled = HfConfig.read(smallLlama(", 'rope_parameters': {'rope_type': 'llama3', 'rope_theta': 500000.0, "
                + "'factor': 8.0, 'low_freq_factor': 1.0, 'high_freq_factor': 4.0}"));
        assertEquals(500000, scaled.ropeTheta());
        assertEquals(new ModelConfig.Llama3Scaling(8, 1, 4, 64), scaled.ropeScaling(), "original_max_position_embeddings defaults");
        ModelConfig untyped = HfConfig.read(smallLlama(", 'rope_theta': 20000.0, 'rope_parameters': {}"));
        assertEquals(20000, untyped.ropeTheta(), "the top-level base when the object has none");
        assertNull(untyped.ropeScaling());
    }

    @Test
    void ropeScalingWinsOverRopeParametersAndAnInnerBaseOverTheTopLevelOne() throws IOException {
        ModelConfig c = HfConfig.read(smallLlama(", 'rope_theta': 20000.0, 'rope_parameters': {'rope_type': 'default', "
                + "'rope_theta': 30000.0}, 'rope_scaling': {'rope_type': 'llama3', 'factor': 2.0, 'low_freq_factor': 1.0, "
                + "'high_freq_factor': 4.0, 'original_max_position_embeddings': 32}"));
        assertEquals(20000, c.ropeTheta());
        assertEquals(new ModelConfig.Llama3Scaling(2, 1, 4, 32), c.ropeScaling());
    }

    @Test
    void ropeParametersPerLayerTypeAndPartialRotationAreRejected() throws IOException {
        Path perLayer = smallLlama(", 'rope_parameters': {'full_attention': {'rope_type': 'default', 'rope_theta': 10000.0}}");
        String m = assertThrows(IllegalArgumentException.class, () -> HfConfig.read(perLayer)).getMessage();
        assertTrue(m.contains("rope_parameters: RoPE parameters per layer type are not supported"), m);
        Path partial = smallLlama(", 'rope_parameters': {'rope_theta': 10000.0, 'partial_rotary_factor': 0.5}");
        m = assertThrows(IllegalArgumentException.class, () -> HfConfig.read(partial)).getMessage();
        assertTrue(m.contains("rope_parameters.partial_rotary_factor: unsupported value 0.5"), m);
    }

    @Test
    void gpt2WithoutScaledScoresIsRejected() throws IOException {
        Path file = write("""
                {"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2, "n_positions": 16, "vocab_size": 10,
                 "scale_attn_weights": false}""");
        String m = assertThrows(IllegalArgumentException.class, () -> HfConfig.read(file)).getMessage();
        assertTrue(m.contains("scale_attn_weights: unsupported value false"), m);
    }

    @Test
    void qwen2sWindowIsOnlyWhereALayerHasIt() throws IOException {
        String qwen = "\"model_type\": \"qwen2\", \"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2, "
                + "\"num_attention_heads\": 4, \"max_position_embeddings\": 256, \"vocab_size\": 10, \"sliding_window\": 128, "
                + "\"use_sliding_window\": true";
        assertEquals(0, HfConfig.read(write("{" + qwen + "}")).slidingWindow(), "max_window_layers 28 by default: no layer");
        assertEquals(128, HfConfig.read(write("{" + qwen + ", \"max_window_layers\": 1}")).slidingWindow());
        assertEquals(128, HfConfig.read(write("{" + qwen + ", \"layer_types\": [\"full_attention\", \"sliding_attention\"]}"))
                .slidingWindow());
        assertEquals(0, HfConfig.read(write("{" + qwen + ", \"max_window_layers\": 0, "
                + "\"layer_types\": [\"full_attention\", \"full_attention\"]}")).slidingWindow());
        assertEquals(0, HfConfig.read(smallLlama(", 'sliding_window': 16")).slidingWindow(), "LLaMA has no window");
    }

    @Test
    void writtenConfigsReadBack() throws IOException {
        ModelConfig llama = ModelConfig.llama(100, 32, 64, 2, 4, 2, 64).withRopeScaling(new ModelConfig.Llama3Scaling(8, 1, 4, 16));
        ModelConfig windowedQwen = new ModelConfig("qwen2", 100, 32, 64, Activation.SILU, 2, 4, 2, 8, 64, 1e-6, 1e6, null, false, true, 16);
        for (ModelConfig c : new ModelConfig[] {ModelConfig.gpt2(100, 32, 2, 4, 64), llama, llama.withTiedEmbeddings(true), windowedQwen}) {
            Path file = dir.resolve("written.json");
            HfConfig.write(c, file);
            assertEquals(c, HfConfig.read(file));
        }
    }
}
