package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.DiagonalFisher.Labels;
import java.io.IOException;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The batched per-example Fisher of transformer LMs (GPT-2 with its tied head and learned positions, LLaMA with
 * GQA, Qwen2 with q/k/v biases, a tied LLaMA) against the reference that runs one backward pass per example.
 */
class CausalLmFisherTest {
    private static final int EXAMPLES = 5;
    private static final int LENGTH = 6;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void hfFixturesMatchOneBackwardPerExample() throws IOException {
        for (String fixture : new String[] {"gpt2-tiny", "llama-tiny", "qwen2-tiny-bf16"}) {
            try (CausalLm model = HfCheckpoint.load(ReferenceLogitsTest.fixture(fixture))) {
                for (Labels labels : new Labels[] {Labels.EMPIRICAL, Labels.SAMPLED}) {
                    assertMatchesReference(fixture + " " + labels, model, labels);
                }
                // the exact expectation needs one prediction per example: a sequence's positions are refused by name
                var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                        () -> assertMatchesReference(fixture + " EXACT", model, Labels.EXACT));
                org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("one prediction per example"), e.getMessage());
            }
        }
    }

    @Test
    void tiedLlamaMatchesOneBackwardPerExample() {
        ModelConfig config = ModelConfig.llama(40, 16, 24, 2, 4, 2, 32).withTiedEmbeddings(true);
        try (CausalLm model = CausalLm.create(config, 7)) {
            assertMatchesReference("tied llama", model, Labels.EMPIRICAL);
        }
    }

    private static void assertMatchesReference(String what, CausalLm model, Labels labels) {
        try (TensorScope scope = TensorScope.open()) {
            SplittableRandom rng = new SplittableRandom(11);
            long vocab = model.config().vocabSize();
            long[] inputs = new long[EXAMPLES * LENGTH];
            long[] targets = new long[EXAMPLES * LENGTH];
            for (int i = 0; i < inputs.length; i++) {
                inputs[i] = rng.nextLong(vocab);
                targets[i] = rng.nextLong(vocab);
            }
            Tensor x = Tensor.of(inputs, EXAMPLES, LENGTH);
            Tensor y = Tensor.of(targets, EXAMPLES, LENGTH);
            // batches of 2 so a batch boundary and a last, smaller batch are both crossed
            Map<String, Tensor> batched = DiagonalFisher.of(model, ids -> model.forward(ids, null), x, y, labels, 5, 2);
            Map<String, Tensor> reference = DiagonalFisher.perExample(model, ids -> model.forward(ids, null), x, y, labels, 5);
            try {
                assertEquals(reference.keySet(), batched.keySet(), what);
                reference.forEach((name, expected) -> assertClose(what + " " + name, expected.toFloatArray(),
                        batched.get(name).toFloatArray()));
            } finally {
                batched.values().forEach(Tensor::close);
                reference.values().forEach(Tensor::close);
            }
        }
    }

    /** Within 1e-5 of the largest entry of the tensor (entries near zero carry only rounding). */
    private static void assertClose(String what, float[] expected, float[] actual) {
        double scale = 0;
        for (float e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        assertTrue(scale > 0, what + ": the reference Fisher is all zeros");
        for (int i = 0; i < expected.length; i++) {
            double error = Math.abs(expected[i] - actual[i]);
            assertTrue(error <= 1e-5 * scale, what + "[" + i + "]: " + actual[i] + " vs " + expected[i] + " (scale " + scale + ")");
        }
    }
}
