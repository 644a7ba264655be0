package io.tessera.engine.nn;

import io.tessera.engine.Backend;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.Set;

/**
 * Keys and values of the positions seen so far, for one attention layer: preallocated
 * [batch, heads, capacity, headDim] buffers that each decode step appends to, so a step copies only its
 * new positions. Inference only (appending is not recorded on the tape).
 *
 * <p>F32 by default. An F16 cache holds half the bytes, so a decoding step over a long context reads half
 * as much for attention (llama.cpp's default); appended keys and values are rounded to F16 (nearest even),
 * which moves logits by up to about 3e-4 of their range (random GPT-2- and LLaMA-shape models, 300 positions), so
 * it is opt-in: the F32 cache matches PyTorch to 2e-5.
 */
public final class KvCache implements AutoCloseable {
    /** The dtypes a cache can hold its keys and values in. */
    public static final Set<DType> DTYPES = Backend.KV_DTYPES;

    private final Tensor keys;
    private final Tensor values;
    private final long capacity;
    private long length;

    public KvCache(long batch, long heads, long capacity, long headDim) {
        this(Device.CPU, DType.F32, batch, heads, capacity, headDim);
    }

    /** A cache whose buffers live on {@code device} (the attention layer's), holding {@code dtype} (one of {@link #DTYPES}). */
    public KvCache(Device device, DType dtype, long batch, long heads, long capacity, long headDim) {
        requireDtype(dtype);
        this.capacity = capacity;
        this.keys = TensorScope.outside(() -> Tensor.full(device, 0, dtype, batch, heads, capacity, headDim));
        this.values = TensorScope.outside(() -> Tensor.full(device, 0, dtype, batch, heads, capacity, headDim));
    }

    /** {@code dtype} if a cache can hold its keys and values in it (one of {@link #DTYPES}), else IllegalArgumentException. */
    public static DType requireDtype(DType dtype) {
        if (!DTYPES.contains(dtype)) {
            throw new IllegalArgumentException("a KV cache holds one of " + DTYPES + ", not " + dtype);
        }
        return dtype;
    }

    /** The dtype of the keys and values held. */
    public DType dtype() {
        return keys.dtype();
    }

    public long length() {
        return length;
    }

    public long capacity() {
        return capacity;
    }

    /**
     * Appends k, v [batch, heads, t, headDim] (converted to the cache's dtype); returns views of all keys and values so
     * far.
     */
    public Tensor[] append(Tensor k, Tensor v) {
        long t = k.dim(2);
        if (length + t > capacity) {
            throw new IllegalStateException("KV cache full: " + length + " + " + t + " positions exceed its capacity " + capacity);
        }
        InPlace.copy(k, keys.slice(2, length, length + t));
        InPlace.copy(v, values.slice(2, length, length + t));
        length += t;
        return new Tensor[] {keys.slice(2, 0, length), values.slice(2, 0, length)};
    }

    /** Forgets every position (keeps the buffers). */
    public void clear() {
        length = 0;
    }

    /** Forgets the positions from {@code newLength} on, e.g. to rewind a speculative step. */
    public void truncate(long newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a KV cache of " + length + " positions to " + newLength);
        }
        length = newLength;
    }

    @Override
    public void close() {
        keys.close();
        values.close();
    }
}
