package io.tessera.engine.cuda;

import io.tessera.engine.DeviceStorage;

/**
 * Temporary device memory of one op (partial sums, flags, pointer tables), from the caching allocator
 * and outside any TensorScope. Freeing it right after the op's last launch is safe: its block returns to
 * the current stream's free list, and the stream runs the launch before any later reuse.
 */
final class Scratch implements AutoCloseable {
    private final DeviceStorage storage;

    Scratch(CudaBackend backend, long bytes) {
        this.storage = backend.allocateUnscoped(bytes);
    }

    long address() {
        return storage.address();
    }

    @Override
    public void close() {
        storage.close();
    }
}
