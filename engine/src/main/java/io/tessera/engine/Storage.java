package io.tessera.engine;

/**
 * The only thing in the engine that owns memory. Tensors are views over a storage; closing the storage
 * (directly, through the one tensor that owns it, or through the {@link TensorScope} that owns it) frees
 * the memory, and every later use of any of its tensors throws {@link IllegalStateException}. Closing a
 * view that does not own it leaves the storage alone (see {@link Tensor#close()}).
 */
public sealed interface Storage extends AutoCloseable permits HostStorage, DeviceStorage {
    Device device();

    long byteSize();

    boolean isClosed();

    /** Whether a {@link TensorScope} owns this storage (it was allocated inside one). */
    boolean scoped();

    /** Frees the memory (or releases the mapping); idempotent. */
    @Override
    void close();
}
