package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.FishMask;
import io.tessera.sparse.ConflictPolicy;
import io.tessera.sparse.Patch;
import io.tessera.sparse.SparseMask;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * FISH on a transformer: a small GPT-2 over bytes, two contributors on two slices of the GPL-3 text (Debian's
 * base-files), each with the Fisher of the model on their slice, a 0.5% FISH mask, masked fine-tuning and a patch;
 * then both patches merged.
 */
class FishOnTransformerAcceptanceTest {
    private static final Path CORPUS = Path.of("/usr/share/common-licenses/GPL-3");
    private static final ModelConfig CONFIG = ModelConfig.gpt2(256, 32, 2, 4, 64);
    private static final int SLICE = 6000;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private record Contribution(TokenSequences data, Patch patch, double baseLoss, double tunedLoss) {}

    @Test
    void twoContributorsPatchAndMerge() throws IOException {
        assumeTrue(Files.isRegularFile(CORPUS), CORPUS + " (Debian's base-files) is not installed");
        byte[] text = Files.readAllBytes(CORPUS);
        try (CausalLm base = CausalLm.create(CONFIG, 1); TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> baseState = hfState(base);
            Contribution a = contribute(base, bytes(text, 0), "alice: GPL-3 preamble");
            Contribution b = contribute(base, bytes(text, SLICE), "bob: GPL-3 terms");
            for (Contribution c : List.of(a, b)) {
                assertTrue(c.tunedLoss() < c.baseLoss() - 0.05, "fine-tuning lowers the loss: " + c.baseLoss() + " -> " + c.tunedLoss());
                Map<String, Tensor> tuned = c.patch().apply(baseState);
                assertBitIdentical(baseState, c.patch().revert(tuned), "the patch reverts to the base bit for bit");
                assertBitIdentical(tuned, c.patch().apply(c.patch().revert(tuned)), "and applies again bit for bit");
            }
            Patch merged = Patch.compose(ConflictPolicy.AVERAGE, List.of(a.patch(), b.patch()));
            Map<String, Tensor> mergedState = merged.apply(baseState);
            assertBitIdentical(baseState, merged.withBaseValues(baseState).revert(mergedState), "the merged patch reverts bit for bit");
            try (CausalLm both = CausalLm.create(CONFIG, 1)) {
                Map<String, Tensor> local = new LinkedHashMap<>();
                mergedState.forEach((name, t) -> local.put(HfNames.local(name), t));
                both.loadStateDict(local, true);
                for (Contribution c : List.of(a, b)) {
                    double loss = CausalLmTraining.meanLoss(both, c.data(), 8);
                    assertTrue(loss < c.baseLoss(), "the merged model keeps each contribution: " + c.baseLoss() + " -> " + loss);
                }
            }
        }
    }

    /** Fisher, a 0.5% FISH mask and masked fine-tuning of a copy of {@code base}, as a patch. */
    private static Contribution contribute(CausalLm base, int[] tokens, String who) {
        TokenSequences data = TokenSequences.of(tokens, 32, 64, CONFIG.vocabSize(), who);
        try (CausalLm tuned = CausalLm.create(CONFIG, 1)) {
            tuned.loadStateDict(base.stateDict(), true);
            Map<String, Tensor> fisher = CausalLmTraining.fisher(tuned, data, DiagonalFisher.Labels.EMPIRICAL, 0, 16);
            SparseMask mask = FishMask.of(fisher, 0.005, Set.of());
            fisher.values().forEach(Tensor::close);
            double before = CausalLmTraining.meanLoss(tuned, data, 16);
            CausalLmTraining.maskedFineTune(tuned, mask, data, 40, 1e-2, 16, 7);
            double after = CausalLmTraining.meanLoss(tuned, data, 16);
            Map<String, Tensor> baseState = hfState(base);
            Map<String, Tensor> tunedState = hfState(tuned);
            Patch patch = Patch.diff(baseState, tunedState, mask, who);
            // every changed bit is inside the mask: the unmasked parameters are bit-identical
            assertEquals(Patch.diff(baseState, tunedState, who).count(), patch.count(), who + ": changes outside the mask");
            assertTrue(patch.count() > 0 && patch.count() <= mask.count(), who + ": " + patch.count() + " of " + mask.count());
            assertBitIdentical(tunedState, patch.apply(baseState), who + ": the patch rebuilds the fine-tuned model");
            return new Contribution(data, patch, before, after);
        }
    }

    private static int[] bytes(byte[] text, int from) {
        int[] out = new int[SLICE];
        for (int i = 0; i < SLICE; i++) {
            out[i] = text[from + i] & 0xff;
        }
        return out;
    }

    private static Map<String, Tensor> hfState(CausalLm model) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        model.stateDict().forEach((name, t) -> out.put(HfNames.hf(CONFIG, name), t.detach().to(t.dtype())));
        return out;
    }

    private static void assertBitIdentical(Map<String, Tensor> expected, Map<String, Tensor> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet(), what);
        expected.forEach((name, t) -> assertTrue(Arrays.equals(t.toByteArray(), actual.get(name).toByteArray()), what + ": " + name));
    }
}
