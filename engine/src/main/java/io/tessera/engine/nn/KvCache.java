package io.tessera.engine.nn;

import io.tessera.engine.Device;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;

/**
 * Keys and values of the positions seen so far, for one attention layer: preallocated
 * [batch, heads, capacity, headDim] buffers that each decode step appends to, so a step copies only its
 * new positions. Inference only (appending is not recorded on the tape).
 */
public final class KvCache implements AutoCloseable {
    private final Tensor keys;
    private final Tensor values;
    private final long capacity;
    private long length;

    public KvCache(long batch, long heads, long capacity, long headDim) {
        this(Device.CPU, batch, heads, capacity, headDim);
    }

    /** A cache whose buffers live on {@code device} (the attention layer's). */
    public KvCache(Device device, long batch, long heads, long capacity, long headDim) {
        this.capacity = capacity;
        this.keys = TensorScope.outside(() -> Tensor.zeros(device, batch, heads, capacity, headDim));
        this.values = TensorScope.outside(() -> Tensor.zeros(device, batch, heads, capacity, headDim));
    }

    public long length() {
        return length;
    }

    public long capacity() {
        return capacity;
    }

    /** Appends k, v [batch, heads, t, headDim]; returns views of all keys and values so far. */
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
