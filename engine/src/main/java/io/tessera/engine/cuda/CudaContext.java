package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import io.tessera.engine.Device;
import io.tessera.ffi.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One device's primary context (retained for the life of the JVM) and what hangs off it: properties,
 * launch geometry, the kernels' module, the caching allocator, the pinned staging buffer, the cuBLAS
 * handles, the cuBLASLt handle, and the stream work goes to (the default stream unless a thread selected another with
 * {@link CudaBackend#use(CudaStream)}). The context is made current on each calling thread before it
 * calls into the driver.
 */
final class CudaContext {
    /** Where cuCtxGetCurrent writes, one per thread (8 bytes, freed with the thread by the GC). */
    private static final ThreadLocal<MemorySegment> CURRENT = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(ADDRESS));

    private final int ordinal;
    private final Device device;
    private final MemorySegment context;
    private final DeviceProperties properties;
    private final LaunchGeometry geometry;
    private final ThreadLocal<CudaStream> selectedStream = new ThreadLocal<>();
    private final KernelModule module;
    private final CachingAllocator allocator;
    private final PinnedStaging staging;
    private final CublasHandles cublas;
    private final CudaLt lt;

    private CudaContext(int ordinal, MemorySegment context) {
        this.ordinal = ordinal;
        this.device = Device.cuda(ordinal);
        this.context = context;
        makeCurrent();
        this.properties = DeviceProperties.query(ordinal);
        this.geometry = LaunchGeometry.of(properties);
        this.module = KernelModule.load();
        this.allocator = new CachingAllocator(this);
        this.staging = new PinnedStaging(this);
        this.cublas = new CublasHandles(this);
        this.lt = new CudaLt(this);
    }

    static CudaContext open(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRetain(out, ordinal), "cuDevicePrimaryCtxRetain(" + ordinal + ")");
            return new CudaContext(ordinal, out.get(ADDRESS, 0));
        }
    }

    /**
     * Binds the context to the calling thread unless the driver says it is bound already. The driver is
     * asked each time (a thread-local read in the driver) instead of remembering what this object bound:
     * work on another device, or other code, may have made another context current on this thread since.
     */
    void makeCurrent() {
        MemorySegment current = CURRENT.get();
        CudaDriver.check(CudaDriver.cuCtxGetCurrent(current), "cuCtxGetCurrent");
        if (current.get(ADDRESS, 0).address() != context.address()) {
            CudaDriver.check(CudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent(cuda:" + ordinal + ")");
        }
    }

    /** The stream this thread's work goes to: NULL (the default stream) or the selected one. */
    MemorySegment stream() {
        CudaStream selected = selectedStream.get();
        return selected == null ? MemorySegment.NULL : selected.handle();
    }

    CudaStream selectedStream() {
        return selectedStream.get();
    }

    void select(CudaStream stream) {
        if (stream == null) {
            selectedStream.remove();
        } else {
            selectedStream.set(stream);
        }
    }

    void synchronizeStream() {
        makeCurrent();
        CudaDriver.check(CudaDriver.cuStreamSynchronize(stream()), "cuStreamSynchronize");
    }

    Device device() {
        return device;
    }

    DeviceProperties properties() {
        return properties;
    }

    LaunchGeometry geometry() {
        return geometry;
    }

    KernelModule module() {
        return module;
    }

    CachingAllocator allocator() {
        return allocator;
    }

    PinnedStaging staging() {
        return staging;
    }

    CublasHandles cublas() {
        return cublas;
    }

    CudaLt lt() {
        return lt;
    }

    KernelLaunch launch(String kernel) {
        return new KernelLaunch(this, kernel);
    }
}
