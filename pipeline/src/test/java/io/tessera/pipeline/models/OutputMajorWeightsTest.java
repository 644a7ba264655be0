package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.pipeline.OutputMajorWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** GPT-2's Conv1D weights stored output-major for inference: the same parameters and the same logits. */
class OutputMajorWeightsTest {
    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void conv1dWeightsKeepTheirValuesAndLogitsStoredTheOtherWayRound() {
        ModelConfig config = ModelConfig.gpt2(100, 64, 3, 4, 64);
        try (CausalLm stored = CausalLm.create(config, 7);
             CausalLm relayouted = CausalLm.create(config, 7);
             GradMode off = GradMode.noGrad();
             TensorScope scope = TensorScope.open()) {
            List<Tensor> replaced = new ArrayList<>();
            List<String> paths = OutputMajorWeights.relayout(relayouted, weight -> {
                assertFalse(weight.isClosed(), "seen before it is closed");
                replaced.add(weight);
            });
            List<String> expected = new ArrayList<>();
            for (int layer = 0; layer < 3; layer++) {
                for (String conv1d : List.of("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")) {
                    expected.add("h." + layer + "." + conv1d);
                }
            }
            assertEquals(expected, paths);
            assertEquals(paths.size(), replaced.size());
            assertTrue(replaced.stream().allMatch(Tensor::isClosed), "the old weights are closed");

            Map<String, Tensor> before = stored.stateDict();
            Map<String, Tensor> after = relayouted.stateDict();
            assertEquals(before.keySet(), after.keySet());
            before.forEach((name, t) -> {
                Tensor now = after.get(name);
                assertArrayEquals(t.shape(), now.shape(), name);
                assertArrayEquals(t.toFloatArray(), now.toFloatArray(), name + ": bit for bit");
                boolean moved = paths.stream().anyMatch(path -> name.equals(path + ".weight"));
                assertEquals(!moved, now.isContiguous(), name + " contiguous");
                if (moved) {
                    assertTrue(now.t().isContiguous(), name + ": [out, in] storage");
                }
            });

            float[] reference = Bf16ModelsTest.logits(stored);
            float[] actual = Bf16ModelsTest.logits(relayouted);
            double scale = 0;
            for (float v : reference) {
                scale = Math.max(scale, Math.abs(v));
            }
            for (int i = 0; i < reference.length; i++) {
                assertEquals(reference[i], actual[i], 1e-6 * scale, "logit " + i + " (F32 summation order only)");
            }
            assertEquals(List.of(), OutputMajorWeights.relayout(relayouted, weight -> { }), "a second pass finds nothing to move");
        }
    }

    @Test
    void outputMajorModelsAreLeftAsTheyAre() {
        try (CausalLm llama = CausalLm.create(ModelConfig.llama(100, 64, 160, 2, 8, 2, 64), 7)) {
            assertEquals(List.of(), OutputMajorWeights.relayout(llama, weight -> { }));
            assertTrue(llama.stateDict().values().stream().allMatch(Tensor::isContiguous));
        }
    }
}
