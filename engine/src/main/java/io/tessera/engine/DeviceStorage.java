package io.tessera.engine;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Memory on an accelerator: a device address owned by the backend's allocator. Closing the storage
 * gives the memory back to that allocator exactly once ({@code release}); every later use throws
 * {@link IllegalStateException}, like a closed {@link HostStorage}. The engine never dereferences the
 * address; only the owning backend's kernels do.
 */
public final class DeviceStorage implements Storage {
    private final Device device;
    private final long address;
    private final long byteSize;
    private final Runnable release;
    private final AtomicBoolean closed = new AtomicBoolean();
    private boolean scoped;

    private DeviceStorage(Device device, long address, long byteSize, Runnable release) {
        this.device = device;
        this.address = address;
        this.byteSize = byteSize;
        this.release = release;
    }

    /**
     * Wraps memory a device backend allocated and registers it with the current {@link TensorScope}, if
     * any; {@code release} runs once, when the storage closes.
     */
    public static DeviceStorage adopt(Device device, long address, long byteSize, Runnable release) {
        if (device.kind() == Device.Kind.CPU) {
            throw new IllegalArgumentException("device storage on " + device + ": host memory is a HostStorage");
        }
        DeviceStorage storage = new DeviceStorage(device, address, byteSize, release);
        storage.scoped = TensorScope.adopt(storage);
        return storage;
    }

    /** The device address of the first byte; throws IllegalStateException once the storage is closed. */
    public long address() {
        if (closed.get()) {
            throw new IllegalStateException("tensor storage on " + device + " was closed (closed tensor or closed TensorScope)");
        }
        return address;
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public long byteSize() {
        return byteSize;
    }

    @Override
    public boolean scoped() {
        return scoped;
    }

    @Override
    public boolean isClosed() {
        return closed.get();
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            release.run();
        }
    }
}
