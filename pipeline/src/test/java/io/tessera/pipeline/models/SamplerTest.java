package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Sampler masks and draws against hand-computed expectations, and sampled generation on the fixture models. */
class SamplerTest {
    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private static float[] logs(double... probabilities) {
        float[] logits = new float[probabilities.length];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) Math.log(probabilities[i]);
        }
        return logits;
    }

    private static boolean[] mask(int size, int... kept) {
        boolean[] mask = new boolean[size];
        for (int i : kept) {
            mask[i] = true;
        }
        return mask;
    }

    @Test
    void topKKeepsTheKLargestAndEveryTieOfTheKth() {
        float[] logits = {1, 3, 3, 2, 0};
        assertArrayEquals(mask(5, 1, 2), new Sampler(1, 2, 1, 0).kept(logits));
        assertArrayEquals(mask(5, 1, 2, 3), new Sampler(1, 3, 1, 0).kept(logits));
        assertArrayEquals(mask(5, 1, 2), new Sampler(1, 1, 1, 0).kept(logits), "the tie with the 1st is kept");
        assertArrayEquals(mask(5, 0, 1, 2, 3, 4), new Sampler(1, 9, 1, 0).kept(logits), "k above the vocabulary");
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        float[] logits = logs(0.2, 0.5, 0.3);
        assertArrayEquals(mask(3, 1), new Sampler(1, 0, 0.1, 0).kept(logits), "at least one token");
        assertArrayEquals(mask(3, 1, 2), new Sampler(1, 0, 0.6, 0).kept(logits));
        assertArrayEquals(mask(3, 0, 1, 2), new Sampler(1, 0, 0.81, 0).kept(logits));
        assertArrayEquals(mask(3, 0, 1, 2), new Sampler(1, 0, 1, 0).kept(new float[] {0, 50, -50}), "p = 1 keeps all");
        assertArrayEquals(mask(4, 0, 1), new Sampler(1, 0, 0.5, 0).kept(new float[4]), "ties: lower ids first, 0.25 + 0.25 >= 0.5");
    }

    @Test
    void topPRenormalisesAfterTopKAndSeesTheTemperature() {
        float[] logits = logs(0.4, 0.3, 0.2, 0.1);
        assertArrayEquals(mask(4, 0), new Sampler(1, 2, 0.55, 0).kept(logits), "0.4 / 0.7 = 0.571 >= 0.55");
        assertArrayEquals(mask(4, 0, 1), new Sampler(1, 2, 0.6, 0).kept(logits));
        float[] two = {2, 0};
        assertArrayEquals(mask(2, 0), new Sampler(1, 0, 0.85, 0).kept(two), "T 1: p0 = 0.881");
        assertArrayEquals(mask(2, 0, 1), new Sampler(10, 0, 0.85, 0).kept(two), "T 10: p0 = 0.550");
    }

    @Test
    void drawsFollowTheRenormalisedSoftmax() {
        float[] logits = logs(0.1, 0.4, 0.2, 0.3);
        Sampler sampler = new Sampler(2, 3, 1, 42);
        // reference: softmax(log p / 2) over the top 3 = sqrt(p) renormalised
        double[] expected = {0, Math.sqrt(0.4), Math.sqrt(0.2), Math.sqrt(0.3)};
        double total = Arrays.stream(expected).sum();
        int draws = 40_000;
        int[] counts = new int[4];
        for (int i = 0; i < draws; i++) {
            counts[(int) sampler.next(logits)]++;
        }
        assertEquals(0, counts[0], "token 0 is outside the top 3");
        for (int t = 1; t < 4; t++) {
            assertEquals(expected[t] / total, counts[t] / (double) draws, 0.01, "frequency of token " + t);
        }
    }

    @Test
    void greedyAndSampledRefuseNaNLogits() {
        float[] logits = {0.5f, Float.NaN, 2f, -1f};
        for (Sampler sampler : new Sampler[] {Sampler.greedy(), new Sampler(1, 0, 1, 7), new Sampler(0.7, 2, 0.9, 7)}) {
            var e = assertThrows(IllegalArgumentException.class, () -> sampler.next(logits));
            assertTrue(e.getMessage().contains("the logits contain NaN"), e.getMessage());
        }
        assertEquals(2, Sampler.greedy().next(new float[] {0.5f, Float.NEGATIVE_INFINITY, 2f, 2f}), "first index of the maximum");
    }

    @Test
    void refusesBadSettings() {
        assertThrows(IllegalArgumentException.class, () -> new Sampler(-1, 0, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, -1, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 0, 1.5, 0));
    }

    @Test
    void sameSeedSameIdsAndGreedyIsTheReference() throws Exception {
        try (CausalLm model = HfCheckpoint.load(ReferenceLogitsTest.fixture("llama-tiny"));
             SafetensorsFile reference = Safetensors.read(ReferenceLogitsTest.fixture("llama-tiny.reference.safetensors"))) {
            long[] ids = reference.tensor("ids").toLongArray();
            long[] generated = reference.tensor("generated").toLongArray();
            long[] prompt = Arrays.copyOf(ids, ids.length - generated.length);
            long[] none = new long[0];

            Generator.Generation greedy = Generator.generate(model, prompt, generated.length, new Sampler(0, 5, 0.5, 3), none, false);
            assertArrayEquals(generated, greedy.ids(), "temperature 0 is greedy");

            long[] first = Generator.generate(model, prompt, 12, new Sampler(1.5, 20, 0.95, 7), none, false).ids();
            long[] again = Generator.generate(model, prompt, 12, new Sampler(1.5, 20, 0.95, 7), none, false).ids();
            long[] other = Generator.generate(model, prompt, 12, new Sampler(1.5, 20, 0.95, 8), none, false).ids();
            assertArrayEquals(first, again, "same seed");
            assertFalse(Arrays.equals(first, other), "another seed gives other ids (at temperature 1.5 over 12 tokens)");
        }
    }

    @Test
    void stopsAfterTheFirstEosIdWhichIsIncluded() throws Exception {
        try (CausalLm model = HfCheckpoint.load(ReferenceLogitsTest.fixture("gpt2-tiny"));
             SafetensorsFile reference = Safetensors.read(ReferenceLogitsTest.fixture("gpt2-tiny.reference.safetensors"))) {
            long[] ids = reference.tensor("ids").toLongArray();
            long[] generated = reference.tensor("generated").toLongArray();
            long[] prompt = Arrays.copyOf(ids, ids.length - generated.length);
            long eos = generated[2];
            int stop = 0;
            while (generated[stop] != eos) {
                stop++;
            }
            long[] eosIds = {-5, eos};
            Generator.Generation g = Generator.generate(model, prompt, generated.length, Sampler.greedy(), eosIds, true);
            assertArrayEquals(Arrays.copyOf(generated, stop + 1), g.ids());
            assertEquals(prompt.length + stop, g.logits().length, "a logits row per decided position");
            Generator.Generation lean = Generator.generate(model, prompt, generated.length, Sampler.greedy(), eosIds, false);
            assertArrayEquals(g.ids(), lean.ids());
            assertEquals(0, lean.logits().length, "no rows kept");
        }
    }
}
