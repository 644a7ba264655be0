package io.tessera.jmh;

import io.tessera.engine.Backend;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Batched decoding: {@link #decodeStep} feeds one token to each of {@code batch} prompts at once (each attending to
 * {@value #CONTEXT} positions of its own), through the models of {@link ModelDecodeBenchmark}; tokens/s = batch * 1000
 * / ms per op. The weights are read once per step for all the prompts; each prompt reads its own KV cache.
 */
@State(Scope.Benchmark)
public class BatchedDecodeBenchmark extends DecodeBenchmark {
    static final int CONTEXT = 128;

    @Param({"gpt2-small", "tinyllama"})
    public String model;

    @Param({"f32", "bf16", "int8"})
    public String weights;

    /** bench/decode_keys.py's DECODE_BATCHES. */
    @Param({"4", "8", "16"})
    public int batch;

    @Param({"cpu"})
    public String device;

    @Setup
    public void build() {
        Backend backend = BenchDevice.backend(device);
        session = new DecodeSession(backend, ModelDecodeBenchmark.build(backend, model, weights), batch, CONTEXT);
    }
}
