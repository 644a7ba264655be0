package io.tessera.pipeline.models;

import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.KvCache;
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
        return firstParameter().device();
    }

    /**
     * Logits [batch, t, vocab] for token ids [batch, t] (I32 or I64). With a cache, the ids continue the
     * sequence the cache holds (their positions start at its length) and their keys and values are appended.
     * Ids on another device than the model's are moved to it; the logits are on the model's device.
     */
    public final Tensor forward(Tensor ids, DecoderCache cache) {
        return forward(ids, null, cache);
    }

    /**
     * {@link #forward(Tensor, DecoderCache)} for sequences of different lengths batched with left padding: the first
     * {@code leftPad[b]} slots of row b (in the cache and in the ids of the step that fills them; their ids may be any
     * valid id) are padding, masked out of attention, and row b's positions start after them. A row's logits are those
     * of its sequence alone, up to rounding; the logits of padding slots mean nothing. {@code leftPad} null: none.
     */
    public final Tensor forward(Tensor ids, long[] leftPad, DecoderCache cache) {
        return forward(ids, leftPad, cache, 0);
    }

    /**
     * {@link #forward(Tensor, long[], DecoderCache)} with the logits of slots {@code firstLogit} .. t - 1 only
     * ([batch, t - firstLogit, vocab]): every slot still runs through the blocks (and fills the cache), but the head,
     * vocab x hidden multiply-adds per slot (a third of GPT-2's FLOPs), runs only where its logits are wanted, e.g.
     * the last slot of a prompt.
     */
    public final Tensor forward(Tensor ids, long[] leftPad, DecoderCache cache, long firstLogit) {
        if (firstLogit != 0 && (firstLogit < 0 || ids.rank() != 2 || firstLogit >= ids.dim(1))) { // before the cache grows
            throw new IllegalArgumentException("firstLogit must be in [0, t) for ids " + ids.describe() + ", got " + firstLogit);
        }
        long past = cache == null ? 0 : cache.length();
        Tensor hidden = blocks(0, config.layers(), embed(ids, past, leftPad), past, leftPad, cache);
        return head(firstLogit == 0 ? hidden : hidden.slice(1, firstLogit, hidden.dim(1)));
    }

    /**
     * The hidden states [batch, t, hidden] entering block 0 for token ids [batch, t] at positions past .. past + t - 1
     * (ids on another device are moved to the model's).
     */
    public final Tensor embed(Tensor ids, long past) {
        return embed(ids, past, null);
    }

    /** {@link #embed(Tensor, long)} with left padding, as {@link #forward(Tensor, long[], DecoderCache)}. */
    public final Tensor embed(Tensor ids, long past, long[] leftPad) {
        checkIds(ids, past);
        Device device = device();
        return embedding(ids.device().equals(device) ? ids : ids.to(device), positions(past, ids.dim(0), ids.dim(1), leftPad));
    }

    /**
     * Runs blocks {@code from} .. {@code to - 1} on hidden states [batch, t, hidden] at positions past .. past + t - 1:
     * the part of the model one peer serves. With a cache, it holds exactly those blocks' layers (see
     * {@link #newCache(long, long, int, int)}) and the new keys and values are appended.
     */
    public final Tensor blocks(int from, int to, Tensor hidden, long past, DecoderCache cache) {
        return blocks(from, to, hidden, past, null, cache);
    }

    /** {@link #blocks(int, int, Tensor, long, DecoderCache)} with left padding, as {@link #forward(Tensor, long[], DecoderCache)}. */
    public final Tensor blocks(int from, int to, Tensor hidden, long past, long[] leftPad, DecoderCache cache) {
        checkSpan(from, to);
        checkHidden(hidden);
        checkContext(past, hidden.dim(1));
        if (cache != null) {
            if (cache.layers() != to - from || cache.batch() != hidden.dim(0) || cache.length() != past) {
                throw new IllegalArgumentException("the cache holds " + cache.layers() + " layers, batch " + cache.batch() + ", "
                        + cache.length() + " positions; blocks " + from + ":" + to + " got batch " + hidden.dim(0)
                        + " at position " + past);
            }
        }
        Positions positions = positions(past, hidden.dim(0), hidden.dim(1), leftPad);
        // inference frees a block's intermediates when it ends and keeps only its output (with grad on, the tape needs
        // them until backward). Kept to the caller's scope, a 1024-token TinyLlama prompt held 2.2 GB of them, more
        // than the host block cache recycles, and a quarter of its prefill went to the kernel zeroing fresh pages
        boolean inference = !GradMode.isEnabled();
        if (inference) {
            positions.build();
        }
        Tensor x = hidden;
        for (int i = from; i < to; i++) {
            KvCache layer = cache == null ? null : cache.layer(i - from);
            if (!inference) {
                x = block(i, x, positions, layer);
                continue;
            }
            try (TensorScope scope = TensorScope.open()) {
                x = scope.keep(block(i, x, positions, layer));
            }
        }
        return x;
    }

    /** Next-token logits [batch, t, vocab] from the hidden states leaving the last block. */
    public final Tensor head(Tensor hidden) {
        checkHidden(hidden);
        return outputHead(hidden);
    }

    /** An empty F32 cache for {@code batch} sequences of up to {@code capacity} positions. */
    public final DecoderCache newCache(long batch, long capacity) {
        return newCache(batch, capacity, DType.F32);
    }

    /**
     * An empty cache holding its keys and values in {@code dtype}: F32, or F16 (half the memory and half the bytes a
     * decoding step's attention reads; logits move by up to about 3e-4 of their range, see {@link KvCache}).
     */
    public final DecoderCache newCache(long batch, long capacity, DType dtype) {
        return newCache(batch, capacity, 0, config.layers(), dtype);
    }

    /** An empty F32 cache of blocks {@code from} .. {@code to - 1} only, for {@link #blocks}. */
    public final DecoderCache newCache(long batch, long capacity, int from, int to) {
        return newCache(batch, capacity, from, to, DType.F32);
    }

    /** {@link #newCache(long, long, int, int)} holding its keys and values in {@code dtype} (one of {@link KvCache#DTYPES}). */
    public final DecoderCache newCache(long batch, long capacity, int from, int to, DType dtype) {
        if (capacity > config.maxPositions()) {
            throw new IllegalArgumentException("cache capacity " + capacity + " exceeds max_position_embeddings " + config.maxPositions());
        }
        checkSpan(from, to);
        return new DecoderCache(device(), dtype, to - from, batch, config.kvHeads(), capacity, config.headDim());
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

    /** Token (and, for learned positions, position) embeddings of checked ids on the model's device. */
    abstract Tensor embedding(Tensor ids, Positions positions);

    /** Block {@code index} on hidden states at {@code positions}; {@code cache} is its layer's cache or null. */
    abstract Tensor block(int index, Tensor x, Positions positions, KvCache cache);

    /** Final norm and LM head. */
    abstract Tensor outputHead(Tensor hidden);

    private void checkSpan(int from, int to) {
        if (from < 0 || to > config.layers() || from > to) {
            throw new IllegalArgumentException("blocks " + from + ":" + to + " outside the model's " + config.layers() + " layers");
        }
    }

    /** Positions past .. past + t - 1 must fit the model's context. */
    private void checkContext(long past, long t) {
        if (past + t > config.maxPositions()) {
            throw new IllegalArgumentException(past + " + " + t + " positions exceed max_position_embeddings " + config.maxPositions());
        }
    }

    private void checkHidden(Tensor hidden) {
        long d = config.hiddenSize();
        if (hidden.rank() != 3 || hidden.dim(2) != d || !hidden.device().equals(device())) {
            throw new IllegalArgumentException("hidden states must be [batch, t, " + d + "] on " + device() + ", got " + hidden.describe());
        }
    }

    private void checkIds(Tensor ids, long past) {
        if (ids.rank() != 2 || (ids.dtype() != DType.I64 && ids.dtype() != DType.I32)) {
            throw new IllegalArgumentException("token ids must be I32 or I64 [batch, t], got " + ids.describe());
        }
        checkContext(past, ids.dim(1));
        for (long id : ids.toLongArray()) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            }
        }
    }

    /** Checks left padding for {@code batch} rows filling slots up to past + t (each row keeps a token); all zeros is none. */
    private Positions positions(long past, long batch, long t, long[] leftPad) {
        if (leftPad != null && leftPad.length != batch) {
            throw new IllegalArgumentException("left padding for " + leftPad.length + " rows given to a batch of " + batch);
        }
        boolean padded = false;
        for (int b = 0; leftPad != null && b < leftPad.length; b++) {
            if (leftPad[b] < 0 || leftPad[b] >= past + t) {
                throw new IllegalArgumentException("row " + b + ": left padding " + leftPad[b] + " must be in [0, " + (past + t)
                        + "), leaving the row a token");
            }
            padded |= leftPad[b] > 0;
        }
        return new Positions(past, batch, t, padded ? leftPad.clone() : null, device());
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
