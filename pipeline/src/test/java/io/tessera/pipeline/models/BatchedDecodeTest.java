package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Several prompts of different lengths decoded as one left-padded batch give what each prompt gives alone. */
class BatchedDecodeTest {
    private static final long[][] PROMPTS = {{5, 17, 42}, {3, 88, 11, 60, 29, 1, 2}, {70}, {33, 9, 14, 51, 7}};
    private static final int NEW = 8;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** The fixtures and a random LLaMA with one KV head and llama3 RoPE scaling. */
    private static CausalLm model(int which) throws IOException {
        String[] fixtures = {"gpt2-tiny", "llama-tiny", "qwen2-tiny-bf16"};
        return which < fixtures.length ? HfCheckpoint.load(ReferenceLogitsTest.fixture(fixtures[which]))
                : CausalLm.create(ModelConfig.llama(100, 32, 48, 2, 4, 1, 40)
                        .withRopeScaling(new ModelConfig.Llama3Scaling(4, 1, 4, 8)), 9);
    }

    @Test
    void greedyBatchesGiveEachPromptsIdsAndLogits() throws IOException {
        for (int which = 0; which < 4; which++) {
            try (CausalLm model = model(which)) {
                Sampler[] greedy = new Sampler[PROMPTS.length];
                Arrays.fill(greedy, Sampler.greedy());
                List<Generator.Generation> batched = Generator.generate(model, PROMPTS, NEW, greedy, new long[0], true);
                for (int b = 0; b < PROMPTS.length; b++) {
                    Generator.Generation alone = Generator.generate(model, PROMPTS[b], NEW, Sampler.greedy(), new long[0], true);
                    String what = model.config().modelType() + " prompt " + b;
                    assertArrayEquals(alone.ids(), batched.get(b).ids(), what);
                    assertEquals(PROMPTS[b].length + NEW - 1, batched.get(b).logits().length, what);
                    double worst = 0;
                    for (int p = 0; p < alone.logits().length; p++) {
                        for (int v = 0; v < alone.logits()[p].length; v++) {
                            worst = Math.max(worst, Math.abs(alone.logits()[p][v] - batched.get(b).logits()[p][v]));
                        }
                    }
                    assertTrue(worst <= 1e-5, what + ": logits differ by " + worst);
                }
            }
        }
    }

    @Test
    void sampledBatchesDrawWhatEachPromptDrawsAloneAndRowsStopAtTheirOwnEos() {
        try (CausalLm model = CausalLm.create(ModelConfig.gpt2(100, 32, 2, 4, 40), 4)) {
            Sampler[] samplers = new Sampler[PROMPTS.length];
            for (int b = 0; b < samplers.length; b++) {
                samplers[b] = new Sampler(1.0, 20, 0.9, 100 + b);
            }
            long[][] alone = new long[PROMPTS.length][];
            for (int b = 0; b < PROMPTS.length; b++) {
                alone[b] = Generator.generate(model, PROMPTS[b], NEW, new Sampler(1.0, 20, 0.9, 100 + b), new long[0], false).ids();
            }
            long eos = alone[1][2]; // row 1 stops after its third token; the others run on unless they draw it too
            List<Generator.Generation> batched = Generator.generate(model, PROMPTS, NEW, samplers, new long[] {eos}, false);
            for (int b = 0; b < PROMPTS.length; b++) {
                int stop = 0;
                while (stop < NEW && alone[b][stop] != eos) {
                    stop++;
                }
                long[] expected = Arrays.copyOf(alone[b], Math.min(NEW, stop + 1));
                assertArrayEquals(expected, batched.get(b).ids(), "prompt " + b);
                assertEquals(0, batched.get(b).logits().length);
            }
            assertTrue(batched.get(1).ids().length <= 3, "row 1 stopped at its EOS");
        }
    }

    @Test
    void badPaddingIsRefused() {
        try (CausalLm model = CausalLm.create(ModelConfig.gpt2(100, 32, 2, 4, 40), 4); TensorScope scope = TensorScope.open();
             GradMode off = GradMode.noGrad()) {
            Tensor ids = Tensor.of(new long[] {1, 2, 3, 4, 5, 6}, 2, 3);
            var e = assertThrows(IllegalArgumentException.class, () -> model.forward(ids, new long[] {1}, null));
            assertTrue(e.getMessage().contains("left padding for 1 rows given to a batch of 2"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.forward(ids, new long[] {0, 3}, null));
            assertTrue(e.getMessage().contains("row 1: left padding 3 must be in [0, 3)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.forward(ids, new long[] {-1, 0}, null));
            assertTrue(e.getMessage().contains("row 0: left padding -1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Generator.generate(model, new long[][] {{1}, {}}, 2,
                    new Sampler[] {Sampler.greedy(), Sampler.greedy()}, new long[0], false));
            assertTrue(e.getMessage().contains("non-empty prompts"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Generator.generate(model, new long[][] {{1}, {2}}, 2,
                    new Sampler[] {Sampler.greedy()}, new long[0], false));
            assertTrue(e.getMessage().contains("one sampler per prompt"), e.getMessage());
        }
    }
}
