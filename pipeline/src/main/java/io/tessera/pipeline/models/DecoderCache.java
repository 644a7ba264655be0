package io.tessera.pipeline.models;

import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.nn.KvCache;

/** One {@link KvCache} per block of a {@link CausalLm} (or of a span of its blocks), all at the same length. */
public final class DecoderCache implements AutoCloseable {
    private final KvCache[] layers;
    private final long batch;

    DecoderCache(Device device, DType dtype, int layerCount, long batch, long kvHeads, long capacity, long headDim) {
        this.batch = batch;
        this.layers = new KvCache[layerCount];
        try {
            for (int i = 0; i < layerCount; i++) {
                layers[i] = new KvCache(device, dtype, batch, kvHeads, capacity, headDim);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    KvCache layer(int index) {
        return layers[index];
    }

    /** The positions held so far. */
    public long length() {
        return layers.length == 0 ? 0 : layers[0].length();
    }

    public long capacity() {
        return layers.length == 0 ? 0 : layers[0].capacity();
    }

    /** The dtype the keys and values are held in (F32 for a cache of no blocks). */
    public DType dtype() {
        return layers.length == 0 ? DType.F32 : layers[0].dtype();
    }

    /** Forgets the positions from {@code newLength} on in every layer, e.g. to rewind a speculative or benchmark step. */
    public void truncate(long newLength) {
        for (KvCache layer : layers) {
            layer.truncate(newLength);
        }
    }

    /** The number of blocks whose keys and values this cache holds. */
    public int layers() {
        return layers.length;
    }

    public long batch() {
        return batch;
    }

    @Override
    public void close() {
        for (KvCache layer : layers) {
            if (layer != null) {
                layer.close();
            }
        }
    }
}
