package io.tessera.pipeline.models;

import io.tessera.engine.Device;
import io.tessera.engine.nn.KvCache;

/** One {@link KvCache} per layer of a {@link CausalLm}, all at the same length. */
public final class DecoderCache implements AutoCloseable {
    private final KvCache[] layers;
    private final long batch;

    DecoderCache(Device device, int layerCount, long batch, long kvHeads, long capacity, long headDim) {
        this.batch = batch;
        this.layers = new KvCache[layerCount];
        try {
            for (int i = 0; i < layerCount; i++) {
                layers[i] = new KvCache(device, batch, kvHeads, capacity, headDim);
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
