package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.DType;
import io.tessera.engine.nn.Module;
import io.tessera.pipeline.Bf16Products;
import io.tessera.pipeline.HalfWeights;
import io.tessera.pipeline.OutputMajorWeights;
import io.tessera.pipeline.Quantization;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.ModelConfig;
import java.util.Locale;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Decoding with a whole model, batch 1: {@link #decodeStep} feeds one token that attends to {@code context}
 * positions (itself and {@code context - 1} cached ones) through a {@link DecoderCache} and computes its logits
 * (tokens/s = 1000 / ms per op). Bound by reading every weight once per token, and the KV cache. {@code model}:
 * {@code gpt2-small} ({@link CausalLm}: vocab 50257, 12 layers, d = 768, 12 heads, 1024 positions; embeddings,
 * final norm and the LM head tied to {@code wte} included; 124M parameters) or {@code tinyllama} (TinyLlama-1.1B's
 * shape: vocab 32000, 22 layers, d = 2048, FFN 5632, 32 heads, 4 KV heads, untied head; 1.1B parameters); random
 * weights from the seed. {@code weights}: {@code f32}, GPT-2's Conv1D weights stored output-major as {@code
 * tessera generate} loads them ({@link OutputMajorWeights}); {@code f32-input-major}, as the checkpoint stores them;
 * {@code bf16}, every Linear and embedding kept in BF16 ({@link HalfWeights}); {@code bf16-rounded}, the same with
 * activations rounded to BF16 at the products (run by {@link ModelPrefillBenchmark}); {@code f16}, kept in F16 instead
 * (not in the default run: {@code -p weights=f16}); {@code int8}, every projection
 * quantized as {@code tessera generate --int8} does (embeddings and a tied head stay f32); {@code int8-all}, the
 * embedding tables and so a tied head too ({@link QuantizationConfig#withEmbeddings}). {@code kv}: the cache's dtype,
 * {@code f32} or {@code f16} (half the bytes of attention per step; not in the default run: {@code -p kv=f16}).
 */
@State(Scope.Benchmark)
public class ModelDecodeBenchmark extends DecodeBenchmark {
    @Param({"gpt2-small", "tinyllama"})
    public String model;

    @Param({"f32", "bf16", "int8", "int8-all"})
    public String weights;

    @Param({"128", "1024"})
    public int context;

    @Param({"f32"})
    public String kv;

    @Param({"cpu"})
    public String device;

    @Setup
    public void build() {
        Backend backend = BenchDevice.backend(device);
        ModelConfig config = ModelConfig.preset(model);
        if (context < 2 || context > config.maxPositions()) {
            throw new IllegalArgumentException("context must be in [2, " + config.maxPositions() + "], got " + context);
        }
        session = new DecodeSession(backend, build(backend, model, weights), 1, context, DType.valueOf(kv.toUpperCase(Locale.ROOT)));
    }

    /** {@code model} with random weights from seed 5, its weights as {@code weights} says, on {@code backend}'s device. */
    static CausalLm build(Backend backend, String model, String weights) {
        CausalLm lm = Module.on(backend.device(), () -> CausalLm.create(ModelConfig.preset(model), 5));
        switch (weights) {
            case "f32" -> OutputMajorWeights.relayout(lm, replaced -> { }); // as HfCheckpoint loads a model for inference
            case "f32-input-major" -> { }
            case "bf16" -> HalfWeights.convert(lm, true);
            case "bf16-rounded" -> HalfWeights.convert(lm, true, Bf16Products.ROUNDED_INPUTS);
            case "f16" -> HalfWeights.convert(lm, DType.F16, true);
            case "int8" -> Quantization.quantize(lm, QuantizationConfig.defaults());
            case "int8-all" -> Quantization.quantize(lm, QuantizationConfig.defaults().withEmbeddings());
            default -> throw new IllegalArgumentException("weights must be f32, f32-input-major, bf16, bf16-rounded, f16, int8 or"
                    + " int8-all, got " + weights);
        }
        return lm;
    }
}
