package io.tessera.pipeline.models;

import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Module;
import java.util.ArrayList;
import java.util.List;

/**
 * A decoder-only language model: token ids [batch, t] to next-token logits [batch, t, vocab], optionally
 * continuing from the positions held in a {@link DecoderCache}.
 */
public abstract class CausalLm extends Module {
    private final ModelConfig config;
    /** Checkpoint files whose mapped tensors are parameters of this model; unmapped when it closes. */
    private final List<SafetensorsFile> mappedFiles = new ArrayList<>();

    CausalLm(ModelConfig config) {
        this.config = config;
    }

    /** A model of {@code config} with weights drawn from {@code seed} (the same model on every run and device). */
    public static CausalLm create(ModelConfig config, long seed) {
        return config.isGpt2() ? new Gpt2Model(config, seed) : new LlamaModel(config, seed);
    }

    public final ModelConfig config() {
        return config;
    }

    /** The device of the parameters (the one the model was built on with {@code Module.on}). */
    public final Device device() {
        return namedParameters().values().iterator().next().device();
    }

    /**
     * Logits [batch, t, vocab] for token ids [batch, t] (I32 or I64). With a cache, the ids continue the
     * sequence the cache holds (their positions start at its length) and their keys and values are appended.
     * Ids on another device than the model's are moved to it; the logits are on the model's device.
     */
    public final Tensor forward(Tensor ids, DecoderCache cache) {
        long past = cache == null ? 0 : cache.length();
        checkIds(ids, past);
        if (cache != null && cache.batch() != ids.dim(0)) {
            throw new IllegalArgumentException("ids have batch " + ids.dim(0) + " but the cache was made for batch " + cache.batch());
        }
        Device device = device();
        return logits(ids.device().equals(device) ? ids : ids.to(device), past, cache);
    }

    /** An empty cache for {@code batch} sequences of up to {@code capacity} positions. */
    public final DecoderCache newCache(long batch, long capacity) {
        if (capacity > config.maxPositions()) {
            throw new IllegalArgumentException("cache capacity " + capacity + " exceeds max_position_embeddings " + config.maxPositions());
        }
        return new DecoderCache(device(), config.layers(), batch, config.kvHeads(), capacity, config.headDim());
    }

    /** Keeps {@code file} open until this model closes, because some of its parameters are views of it. */
    final void retain(SafetensorsFile file) {
        mappedFiles.add(file);
    }

    @Override
    public void close() {
        super.close();
        mappedFiles.forEach(SafetensorsFile::close);
        mappedFiles.clear();
    }

    abstract Tensor logits(Tensor ids, long past, DecoderCache cache);

    private void checkIds(Tensor ids, long past) {
        if (ids.rank() != 2 || (ids.dtype() != DType.I64 && ids.dtype() != DType.I32)) {
            throw new IllegalArgumentException("token ids must be I32 or I64 [batch, t], got " + ids.describe());
        }
        if (past + ids.dim(1) > config.maxPositions()) {
            throw new IllegalArgumentException(past + " + " + ids.dim(1) + " positions exceed max_position_embeddings "
                    + config.maxPositions());
        }
        for (long id : ids.toLongArray()) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            }
        }
    }

    /** Positions past .. past + t - 1 as I64 [t] on {@code device}. */
    static Tensor positions(Device device, long past, long t) {
        long[] p = new long[(int) t];
        for (int i = 0; i < t; i++) {
            p[i] = past + i;
        }
        Tensor positions = Tensor.of(p, t);
        return device.equals(Device.CPU) ? positions : positions.to(device);
    }
}
