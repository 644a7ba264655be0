package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.FishMask;
import io.tessera.sparse.SparseMask;
import io.tessera.sparse.TensorMask;
import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Masked fine-tuning of transformer LMs with a FISH mask over every parameter: loss goes down, nothing outside moves. */
class CausalLmTrainingTest {
    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** A repetitive stream (a short cycle of ids), which a few steps can learn. */
    static int[] cycle(int tokens, long vocab) {
        int[] ids = new int[tokens];
        for (int i = 0; i < tokens; i++) {
            ids[i] = (int) ((7 * (i % 11) + 3) % vocab);
        }
        return ids;
    }

    @Test
    void maskedFineTuningLowersTheLossAndMovesOnlyMaskedEntries() throws IOException {
        for (String fixture : new String[] {"gpt2-tiny", "llama-tiny", "qwen2-tiny-bf16"}) {
            try (CausalLm model = HfCheckpoint.load(ReferenceLogitsTest.fixture(fixture), true); TensorScope scope = TensorScope.open()) {
                long vocab = model.config().vocabSize();
                TokenSequences data = TokenSequences.of(cycle(200, vocab), 12, 16, vocab, "cycle");
                Map<String, Tensor> fisher = CausalLmTraining.fisher(model, data, DiagonalFisher.Labels.EMPIRICAL, 0, 8);
                SparseMask mask = perTensorFishMask(fisher, 0.1);
                fisher.values().forEach(Tensor::close);
                Map<String, float[]> before = new LinkedHashMap<>();
                model.namedParameters().forEach((name, p) -> before.put(name, p.toFloatArray()));
                double lossBefore = CausalLmTraining.meanLoss(model, data, 8);
                CausalLmTraining.maskedFineTune(model, mask, data, 15, 1e-2, 8, 3);
                double lossAfter = CausalLmTraining.meanLoss(model, data, 8);
                assertTrue(lossAfter < lossBefore - 0.05, fixture + ": loss " + lossBefore + " -> " + lossAfter);
                model.namedParameters().forEach((name, p) -> assertOnlyMaskedMoved(fixture + " " + name, before.get(name),
                        p.toFloatArray(), mask.get(HfNames.hf(model.config(), name))));
            }
        }
    }

    /** The top {@code fraction} of each tensor by its own Fisher, so every kind of parameter is trained. */
    private static SparseMask perTensorFishMask(Map<String, Tensor> fisher, double fraction) {
        Map<String, TensorMask> tensors = new LinkedHashMap<>();
        fisher.forEach((name, f) -> tensors.put(name, FishMask.of(Map.of(name, f), fraction, Set.of()).get(name)));
        return SparseMask.of(tensors);
    }

    private static void assertOnlyMaskedMoved(String what, float[] before, float[] after, TensorMask mask) {
        assertTrue(mask != null && mask.count() > 0, what + " is not masked");
        boolean[] masked = new boolean[before.length];
        mask.forEachIndex(i -> masked[(int) i] = true);
        int moved = 0;
        for (int i = 0; i < before.length; i++) {
            boolean same = Float.floatToRawIntBits(before[i]) == Float.floatToRawIntBits(after[i]);
            assertTrue(masked[i] || same, what + "[" + i + "] is outside the mask but changed");
            moved += same ? 0 : 1;
        }
        assertTrue(moved > 0, what + ": no masked entry moved");
    }

    @Test
    void badDataIsRefusedByName() {
        var outside = assertThrows(IllegalArgumentException.class, () -> TokenSequences.of(new int[] {1, 2, 96, 3}, 2, 10, 96, "d.ids"));
        assertTrue(outside.getMessage().contains("d.ids: token 2 has id 96, outside"), outside.getMessage());
        var tooShort = assertThrows(IllegalArgumentException.class, () -> TokenSequences.of(new int[] {1, 2}, 4, 10, 96, "d.ids"));
        assertTrue(tooShort.getMessage().contains("2 tokens, need at least 5"), tooShort.getMessage());
        assertTrue(Arrays.equals(new int[] {0, 1}, TokenSequences.range(0, 2)));
    }
}
