package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.engine.Backends;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Module;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** A batch fed through the cache in pieces gives the full forward's logits, for both architectures. */
class CachedForwardTest {
    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private static final ModelConfig[] CONFIGS = {
        ModelConfig.gpt2(40, 16, 2, 4, 32),
        ModelConfig.llama(40, 16, 32, 2, 4, 2, 32).withRopeScaling(new ModelConfig.Llama3Scaling(4, 1, 4, 8)),
    };

    @Test
    void piecewiseCachedForwardEqualsTheFullForward() {
        for (ModelConfig config : CONFIGS) {
            try (CausalLm model = CausalLm.create(config, 5);
                 DecoderCache cache = model.newCache(2, 9);
                 TensorScope scope = TensorScope.open();
                 GradMode off = GradMode.noGrad()) {
                long[] ids = {3, 7, 1, 0, 39, 12, 5, 8, 2, 9, 9, 30, 31, 4, 6, 11, 20, 21};
                Tensor all = Tensor.of(ids, 2, 9);
                float[] full = model.forward(all, null).toFloatArray();
                Tensor pieces = Tensor.cat(1, model.forward(all.slice(1, 0, 5), cache), model.forward(all.slice(1, 5, 6), cache),
                        model.forward(all.slice(1, 6, 9), cache));
                float[] cached = pieces.toFloatArray();
                assertEquals(9, cache.length());
                for (int i = 0; i < full.length; i++) {
                    assertEquals(full[i], cached[i], 1e-5, config.modelType() + " logit " + i);
                }
            }
        }
    }

    /**
     * Inference frees each block's intermediates when the block ends: the blocks leave in the caller's scope one
     * output per block and the position ids, for both architectures (they left every block's projections, attention
     * and MLP activations too).
     */
    @Test
    void inferenceKeepsOnlyEachBlocksOutput() {
        for (ModelConfig config : CONFIGS) {
            try (CausalLm model = CausalLm.create(config, 5); TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
                long t = 24;
                Tensor embedded = model.embed(Tensor.of(new long[(int) t], 1, t), 0);
                long before = HostStorage.liveBytes();
                Tensor hidden = model.blocks(0, config.layers(), embedded, 0, null);
                long held = HostStorage.liveBytes() - before;
                long output = t * config.hiddenSize() * Float.BYTES;
                assertEquals(1, hidden.dim(0));
                assertTrue(held <= config.layers() * output + t * Long.BYTES, config.modelType() + ": " + held
                        + " bytes held after the blocks, " + output + " per block output");
            }
        }
    }

    /**
     * Inference on a prompt (grad off, more than one position) runs LLaMA's attention through the fused kernel, one call
     * per KV head; with grad on, the same model takes the products path. Both give the same logits, for grouped-query,
     * multi-query and plain multi-head attention, from an empty cache and from a filled one.
     */
    @Test
    void llamaPromptAttentionThroughTheFusedKernelMatchesTheProductsPath() {
        for (int kvHeads : new int[] {1, 2, 4}) {
            ModelConfig config = ModelConfig.llama(40, 32, 48, 2, 4, kvHeads, 64);
            try (CausalLm model = CausalLm.create(config, 7);
                 DecoderCache fused = model.newCache(2, 11);
                 DecoderCache products = model.newCache(2, 11);
                 TensorScope scope = TensorScope.open()) {
                Tensor ids = Tensor.of(new long[] {3, 7, 1, 0, 39, 12, 5, 8, 2, 9, 9, 30, 31, 4, 6, 11, 20, 21, 22, 1, 2, 3}, 2, 11);
                for (long[] piece : new long[][] {{0, 6}, {6, 11}}) {
                    Tensor part = ids.slice(1, piece[0], piece[1]);
                    float[] expected = model.forward(part, products).toFloatArray(); // grad on: the products
                    float[] actual;
                    try (GradMode off = GradMode.noGrad()) {
                        actual = model.forward(part, fused).toFloatArray();
                    }
                    for (int i = 0; i < expected.length; i++) {
                        assertEquals(expected[i], actual[i], 2e-5, kvHeads + " KV heads, positions " + piece[0] + ".., logit " + i);
                    }
                }
            }
        }
    }

    /** Logits from a later slot on are the tail of the full logits (bit for bit: the same rows through the same head). */
    @Test
    void logitsFromALaterSlotAreTheTailOfTheFullLogitsAndABadSlotLeavesTheCacheAlone() {
        for (ModelConfig config : CONFIGS) {
            try (CausalLm model = CausalLm.create(config, 5);
                 DecoderCache cache = model.newCache(2, 9);
                 TensorScope scope = TensorScope.open();
                 GradMode off = GradMode.noGrad()) {
                Tensor all = Tensor.of(new long[] {3, 7, 1, 0, 39, 12, 5, 8, 2, 9, 9, 30, 31, 4, 6, 11, 20, 21}, 2, 9);
                Tensor full = model.forward(all, null);
                for (long first : new long[] {1, 6, 8}) {
                    Tensor tail = model.forward(all, null, null, first);
                    assertArrayEquals(new long[] {2, 9 - first, config.vocabSize()}, tail.shape());
                    assertArrayEquals(full.slice(1, first, 9).contiguous().toFloatArray(), tail.toFloatArray(),
                            config.modelType() + " from slot " + first);
                }
                for (long bad : new long[] {-1, 9}) {
                    var e = assertThrows(IllegalArgumentException.class, () -> model.forward(all, null, cache, bad));
                    assertTrue(e.getMessage().contains("firstLogit must be in [0, t)"), e.getMessage());
                    assertEquals(0, cache.length(), "a refused call must not fill the cache");
                }
            }
        }
    }

    /** A peer's view: blocks split into spans, each with its own span cache, give the whole model's logits. */
    @Test
    void spansOfBlocksWithTheirOwnCachesComposeToTheWholeModel() {
        for (ModelConfig config : CONFIGS) {
            try (CausalLm model = CausalLm.create(config, 5);
                 DecoderCache first = model.newCache(1, 6, 0, 1);
                 DecoderCache second = model.newCache(1, 6, 1, 2);
                 TensorScope scope = TensorScope.open();
                 GradMode off = GradMode.noGrad()) {
                Tensor all = Tensor.of(new long[] {3, 7, 1, 0, 39, 12}, 1, 6);
                float[] full = model.forward(all, null).toFloatArray();
                Tensor[] steps = new Tensor[2];
                for (int s = 0; s < 2; s++) {
                    long past = s * 4L;
                    Tensor ids = all.slice(1, past, s == 0 ? 4 : 6);
                    Tensor h = model.blocks(0, 1, model.embed(ids, past), past, first);
                    steps[s] = model.head(model.blocks(1, 2, h, past, second));
                }
                float[] spans = Tensor.cat(1, steps).toFloatArray();
                for (int i = 0; i < full.length; i++) {
                    assertEquals(full[i], spans[i], 1e-5, config.modelType() + " logit " + i);
                }
                Tensor h = model.embed(all.slice(1, 0, 1), 6);
                var e = assertThrows(IllegalArgumentException.class, () -> model.blocks(0, 1, h, 5, first));
                assertTrue(e.getMessage().contains("6 positions"), e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> model.blocks(1, 3, h, 6, null));
                assertTrue(e.getMessage().contains("blocks 1:3 outside the model's 2 layers"), e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> model.head(Tensor.zeros(1, 1, 15)));
                assertTrue(e.getMessage().contains("hidden states must be [batch, t, 16]"), e.getMessage());
            }
        }
    }

    /** The same models on the CUDA backend (the emulated driver in CI) compute what the CPU does, cache included. */
    @Test
    void runOnTheCudaBackendAsOnTheCpu() {
        Optional<String> missing = Backends.unavailableReason(Device.Kind.CUDA);
        assumeTrue(missing.isEmpty(), () -> "CUDA backend unavailable: " + missing.orElse(""));
        for (ModelConfig config : CONFIGS) {
            try (CausalLm cpu = CausalLm.create(config, 5);
                 CausalLm cuda = Module.on(Device.cuda(0), () -> CausalLm.create(config, 5));
                 TensorScope scope = TensorScope.open();
                 GradMode off = GradMode.noGrad()) {
                assertEquals(Device.cuda(0), cuda.device());
                Tensor ids = Tensor.of(new long[] {3, 7, 1, 0, 39, 12}, 1, 6);
                float[] expected = cpu.forward(ids, null).toFloatArray();
                float[] got = cuda.forward(ids, null).to(Device.CPU).toFloatArray();
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], got[i], 1e-5, config.modelType() + " logit " + i);
                }
                long[] prompt = {3, 7, 1};
                assertArrayEquals(Generator.generate(cpu, prompt, 6, true).ids(), Generator.generate(cuda, prompt, 6, true).ids());
            }
        }
    }

    /**
     * An F16 cache (keys and values rounded as appended) gives logits within F16's rounding of the full forward, for both
     * architectures, and the same on the CUDA backend (the emulated driver in CI) as on the CPU.
     */
    @Test
    void anF16CacheDecodesWithinHalfPrecisionOfTheFullForward() {
        boolean cudaAvailable = Backends.unavailableReason(Device.Kind.CUDA).isEmpty();
        for (ModelConfig config : CONFIGS) {
            try (CausalLm model = CausalLm.create(config, 5);
                 DecoderCache cache = model.newCache(2, 9, DType.F16);
                 TensorScope scope = TensorScope.open();
                 GradMode off = GradMode.noGrad()) {
                assertEquals(DType.F16, cache.dtype());
                long[] ids = {3, 7, 1, 0, 39, 12, 5, 8, 2, 9, 9, 30, 31, 4, 6, 11, 20, 21};
                Tensor all = Tensor.of(ids, 2, 9);
                float[] full = model.forward(all, null).toFloatArray();
                float[] cached = Tensor.cat(1, model.forward(all.slice(1, 0, 5), cache), model.forward(all.slice(1, 5, 6), cache),
                        model.forward(all.slice(1, 6, 9), cache)).toFloatArray();
                double worst = 0;
                for (int i = 0; i < full.length; i++) {
                    worst = Math.max(worst, Math.abs(full[i] - cached[i]) / (1 + Math.abs(full[i])));
                }
                assertTrue(worst > 0 && worst < 2e-3, config.modelType() + ": largest relative difference " + worst);
                if (cudaAvailable) {
                    try (CausalLm cuda = Module.on(Device.cuda(0), () -> CausalLm.create(config, 5));
                         DecoderCache cudaCache = cuda.newCache(2, 9, DType.F16)) {
                        Tensor onCuda = all.to(Device.cuda(0));
                        float[] got = Tensor.cat(1, cuda.forward(onCuda.slice(1, 0, 5), cudaCache),
                                cuda.forward(onCuda.slice(1, 5, 9), cudaCache)).to(Device.CPU).toFloatArray();
                        for (int i = 0; i < cached.length; i++) {
                            assertEquals(cached[i], got[i], 1e-5, config.modelType() + " logit " + i + " on CUDA");
                        }
                    }
                }
            }
        }
    }

    @Test
    void greedyWithoutNewTokensOrBeyondTheContextIsHandled() {
        try (CausalLm model = CausalLm.create(CONFIGS[0], 5)) {
            Generator.Generation none = Generator.generate(model, new long[] {1, 2}, 0, true);
            assertEquals(0, none.ids().length);
            assertEquals(0, none.logits().length);
            for (boolean cached : new boolean[] {true, false}) {
                var e = assertThrows(IllegalArgumentException.class, () -> Generator.generate(model, new long[30], 3, cached));
                assertTrue(e.getMessage().contains("a prompt of 30 tokens and 3 new tokens need 33 positions, more than the model's "
                        + "max_position_embeddings 32"), e.getMessage());
            }
            assertEquals(2, Generator.generate(model, new long[30], 2, true).ids().length);
        }
    }

    @Test
    void badIdsAndOverlongInputsAreRejected() {
        try (CausalLm model = CausalLm.create(CONFIGS[1], 5); TensorScope scope = TensorScope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> model.forward(Tensor.of(new long[] {1, 40}, 1, 2), null));
            assertTrue(e.getMessage().contains("token id 40 is outside the vocabulary [0, 40)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.forward(Tensor.zeros(1, 2), null));
            assertTrue(e.getMessage().contains("I32 or I64"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.newCache(1, 33));
            assertTrue(e.getMessage().contains("exceeds max_position_embeddings 32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.forward(Tensor.of(new long[33], 1, 33), null));
            assertTrue(e.getMessage().contains("exceed max_position_embeddings 32"), e.getMessage());
        }
    }
}
