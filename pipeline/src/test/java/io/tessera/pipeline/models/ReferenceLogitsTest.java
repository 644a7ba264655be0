package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.pipeline.Bf16Products;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The models against hf_reference.py (plain PyTorch, float64) on the fixtures in resources/models: the logits of
 * every position, from one full forward and from each step of cached and uncached greedy decoding, and the ids.
 */
class ReferenceLogitsTest {
    /** |java - reference| <= ABS + REL * |reference| per logit; F32 compute against F64 (measured max error ~2e-6). */
    static final double ABS = 2e-5;
    static final double REL = 2e-5;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    static Path fixture(String name) {
        try {
            return Path.of(ReferenceLogitsTest.class.getResource("/models/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2-tiny", "gpt2-tiny-gelu", "llama-tiny", "llama-tiny-plain", "qwen2-tiny-bf16", "llama-tiny-f16"})
    void matchesTheFloat64Reference(String name) throws Exception {
        try (CausalLm model = HfCheckpoint.load(fixture(name))) {
            matchesTheFloat64Reference(name, model);
        }
    }

    /**
     * The BF16 and F16 checkpoints loaded for inference: their weights read in place from the mapped files, not converted
     * to F32.
     */
    @ParameterizedTest
    @CsvSource({"qwen2-tiny-bf16, BF16", "llama-tiny-f16, F16"})
    void halfPrecisionWeightsReadAsStoredMatchTheFloat64Reference(String name, DType stored) throws Exception {
        try (CausalLm model = HfCheckpoint.load(fixture(name), Bf16Products.EXACT)) {
            Tensor q = model.stateDict().get("layers.0.self_attn.q_proj.weight");
            assertEquals(stored, q.dtype(), "kept in " + stored);
            assertTrue(((HostStorage) q.storage()).segment().isReadOnly(), "a view of the mapped file");
            matchesTheFloat64Reference(name, model);
        }
    }

    /** A GPT-2 loaded for inference: its Conv1D weights copied output-major, the rest read in place from the file. */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2-tiny", "gpt2-tiny-gelu"})
    void gpt2LoadedForInferenceMatchesTheFloat64Reference(String name) throws Exception {
        try (CausalLm model = HfCheckpoint.load(fixture(name), Bf16Products.EXACT)) {
            Map<String, Tensor> state = model.stateDict();
            Tensor conv1d = state.get("h.0.attn.c_attn.weight");
            assertTrue(conv1d.t().isContiguous(), "stored [out, in]: " + Arrays.toString(conv1d.strides()));
            assertFalse(((HostStorage) conv1d.storage()).segment().isReadOnly(), "a copy");
            assertTrue(((HostStorage) state.get("wte.weight").storage()).segment().isReadOnly(), "a view of the mapped file");
            matchesTheFloat64Reference(name, model);
        }
    }

    private static void matchesTheFloat64Reference(String name, CausalLm model) throws Exception {
        try (SafetensorsFile reference = Safetensors.read(fixture(name + ".reference.safetensors"));
             TensorScope scope = TensorScope.open();
             GradMode off = GradMode.noGrad()) {
            long[] ids = reference.tensor("ids").toLongArray();
            long[] generated = reference.tensor("generated").toLongArray();
            double[] expected = reference.tensor("logits").toDoubleArray();
            int vocab = (int) model.config().vocabSize();
            long[] prompt = Arrays.copyOf(ids, ids.length - generated.length);

            float[] full = model.forward(Tensor.of(ids, 1, ids.length), null).toFloatArray();
            assertClose(expected, full, name + " full forward");

            for (boolean cached : new boolean[] {true, false}) {
                Generator.Generation g = Generator.generate(model, prompt, generated.length, cached);
                assertArrayEquals(generated, g.ids(), name + (cached ? " cached" : " uncached") + " greedy ids");
                float[] rows = new float[g.logits().length * vocab];
                for (int p = 0; p < g.logits().length; p++) {
                    System.arraycopy(g.logits()[p], 0, rows, p * vocab, vocab);
                }
                assertClose(Arrays.copyOf(expected, rows.length), rows, name + (cached ? " cached" : " uncached") + " step logits");
            }
        }
    }

    static void assertClose(double[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.length; i++) {
            double excess = Math.abs(actual[i] - expected[i]) - (ABS + REL * Math.abs(expected[i]));
            if (at < 0 || excess > worst) {
                worst = excess;
                at = i;
            }
        }
        double error = Math.abs(actual[at] - expected[at]);
        System.out.printf("%s: max |error| %.3g at %d (|reference| %.3g)%n", what, maxAbs(expected, actual), at, Math.abs(expected[at]));
        assertTrue(worst <= 0, what + ": logit " + at + " is " + actual[at] + ", reference " + expected[at] + " (error " + error + ")");
    }

    private static double maxAbs(double[] expected, float[] actual) {
        double max = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(actual[i] - expected[i]));
        }
        return max;
    }
}
