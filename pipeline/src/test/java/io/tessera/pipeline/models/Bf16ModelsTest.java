package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.EmbeddingTable;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import io.tessera.pipeline.HalfLinear;
import io.tessera.pipeline.Bf16Products;
import io.tessera.pipeline.HalfWeights;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Models whose weights are kept in BF16 ({@link HalfWeights}) against the same float model with every weight matrix
 * rounded to BF16 and stored as F32: the same values, so the logits may differ only by F32 summation order. Both a
 * prompt (more than 16 rows: AMX-BF16 tiles where the CPU has them, else gemm_panels.c or an F32 copy) and cached decoding steps (one
 * row: the BF16 GEMV) are compared, for output-major weights and GPT-2's [in, out] ones.
 */
class Bf16ModelsTest {
    private static final long[] IDS = {5, 17, 42, 3, 88, 11, 60, 29, 1, 2, 70, 33, 9, 64, 21, 97, 50, 8, 36, 75};
    private static final int PROMPT = 17;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void bf16ModelsGiveTheLogitsOfTheirRoundedFloatModels() {
        for (ModelConfig config : new ModelConfig[] {ModelConfig.gpt2(100, 64, 3, 4, 64), ModelConfig.llama(100, 64, 160, 3, 8, 2, 64)}) {
            try (CausalLm rounded = CausalLm.create(config, 3);
                 CausalLm bf16 = CausalLm.create(config, 3);
                 GradMode off = GradMode.noGrad();
                 TensorScope scope = TensorScope.open()) {
                Map<String, Tensor> state = new LinkedHashMap<>();
                rounded.stateDict().forEach((name, t) -> state.put(name, t.rank() == 2 ? t.to(DType.BF16).to(DType.F32) : t));
                rounded.loadStateDict(state, true);
                List<String> converted = HalfWeights.convert(bf16, true);
                assertTrue(converted.size() >= 3 * 4, config.modelType() + ": converted " + converted);
                bf16.transform((path, layer) -> {
                    if (converted.contains(path)) {
                        assertInstanceOf(HalfLinear.class, layer, path);
                        // the checkpoint's layout and values, whatever layout the products read
                        Tensor weight = layer.stateDict().get("weight");
                        Tensor expected = state.get(path + ".weight");
                        assertEquals(DType.BF16, weight.dtype(), path);
                        assertArrayEquals(expected.shape(), weight.shape(), path);
                        assertArrayEquals(expected.toFloatArray(), weight.to(DType.F32).toFloatArray(), path);
                    }
                    return layer;
                });
                float[] expected = logits(rounded);
                float[] actual = logits(bf16);
                double scale = 0;
                for (float v : expected) {
                    scale = Math.max(scale, Math.abs(v));
                }
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], actual[i], 1e-5 * scale + 1e-6, config.modelType() + " logit " + i);
                }
            }
        }
    }

    /**
     * With {@link Bf16Products#ROUNDED_INPUTS}, a BF16 model gives the logits of its float model in which every Linear's
     * weight is rounded to BF16 and every Linear first rounds its input to BF16 (PyTorch's BF16 arithmetic at the
     * products), for the prompt (9 rows: vdpbf16ps where the CPU has it) and cached steps alike; and not those of exact
     * products.
     */
    @Test
    void roundedInputModelsRoundTheInputOfEveryProduct() {
        for (ModelConfig config : new ModelConfig[] {ModelConfig.gpt2(100, 64, 3, 4, 64), ModelConfig.llama(100, 64, 160, 3, 8, 2, 64)}) {
            try (CausalLm reference = CausalLm.create(config, 3);
                 CausalLm exact = CausalLm.create(config, 3);
                 CausalLm bf16 = CausalLm.create(config, 3);
                 GradMode off = GradMode.noGrad();
                 TensorScope scope = TensorScope.open()) {
                List<String> linears = new ArrayList<>();
                reference.transform((path, layer) -> {
                    if (layer instanceof Linear) {
                        linears.add(path + ".weight");
                    }
                    return layer;
                });
                Map<String, Tensor> state = new LinkedHashMap<>();
                reference.stateDict().forEach((name, t) -> state.put(name, linears.contains(name) ? t.to(DType.BF16).to(DType.F32) : t));
                reference.loadStateDict(state, true);
                reference.transform((path, layer) -> layer instanceof Linear linear ? new RoundingInput(linear) : layer);
                HalfWeights.convert(exact, false);
                HalfWeights.convert(bf16, false, Bf16Products.ROUNDED_INPUTS);
                float[] expected = logits(reference);
                float[] actual = logits(bf16);
                float[] unrounded = logits(exact);
                double scale = 0;
                double offByRounding = 0;
                for (int i = 0; i < expected.length; i++) {
                    scale = Math.max(scale, Math.abs(expected[i]));
                    offByRounding = Math.max(offByRounding, Math.abs(expected[i] - unrounded[i]));
                }
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], actual[i], 1e-5 * scale + 1e-6, config.modelType() + " logit " + i);
                }
                assertTrue(offByRounding > 1e-4 * scale, config.modelType() + ": rounding the inputs changed the logits by only "
                        + offByRounding);
            }
        }
    }

    /** A Linear whose input is rounded to BF16 (to nearest even) before the product. */
    private static final class RoundingInput extends Module implements Layer {
        private final Linear linear;

        RoundingInput(Linear linear) {
            this.linear = child("linear", linear);
        }

        @Override
        public Tensor forward(Tensor x) {
            return linear.forward(x.to(DType.BF16).to(DType.F32));
        }
    }

    /** The prompt's logits (17 rows), then one cached step per remaining id (one row: the GEMV). */
    static float[] logits(CausalLm model) {
        try (DecoderCache cache = model.newCache(1, IDS.length)) {
            Tensor ids = Tensor.of(IDS, 1, IDS.length);
            Tensor[] parts = new Tensor[1 + IDS.length - PROMPT];
            parts[0] = model.forward(ids.slice(1, 0, PROMPT), cache);
            for (int t = PROMPT; t < IDS.length; t++) {
                parts[1 + t - PROMPT] = model.forward(ids.slice(1, t, t + 1), cache);
            }
            return Tensor.cat(1, parts).toFloatArray();
        }
    }

    @Test
    void anEmbeddingTableInBf16LooksUpRowsAndRefusesBadIds() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor table = Tensor.randn(Device.CPU, 4, 0, 7, 5);
            try (HalfLinear bf16 = HalfLinear.of(table, false, null)) {
                EmbeddingTable lookup = bf16;
                float[] rows = lookup.lookup(Tensor.of(new long[] {6, 0}, 2)).toFloatArray();
                float[] expected = table.to(DType.BF16).to(DType.F32).toFloatArray();
                for (int c = 0; c < 5; c++) {
                    assertEquals(expected[6 * 5 + c], rows[c], 0.0);
                    assertEquals(expected[c], rows[5 + c], 0.0);
                }
                assertThrows(IllegalArgumentException.class, () -> lookup.lookup(Tensor.of(new long[] {7}, 1)));
                assertThrows(IllegalArgumentException.class, () -> bf16.forward(Tensor.zeros(Device.CPU, 2, 4)));
            }
        }
    }
}
