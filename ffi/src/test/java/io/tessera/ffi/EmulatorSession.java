package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A device's primary context, current on this thread, with the kernels' module; released (and device
 * memory with it) on close.
 */
final class EmulatorSession implements AutoCloseable {
    final Arena arena = Arena.ofConfined();
    final MemorySegment module;
    private final int device;
    private final MemorySegment context;
    private MemorySegment cublas;

    /** Skips the calling test class unless -Dtessera.cuda.driver names the emulated driver. */
    static void assumeEmulatedDriver() {
        String path = System.getProperty("tessera.cuda.driver");
        assumeTrue(path != null && Files.isRegularFile(Path.of(path)),
                "the emulated CUDA driver is not built (native-build/ needs g++): -Dtessera.cuda.driver=" + path);
        try (Arena arena = Arena.ofConfined()) {
            CudaDriver.check(CudaDriver.cuInit(0), "cuInit");
            MemorySegment name = arena.allocate(256);
            CudaDriver.check(CudaDriver.cuDeviceGetName(name, (int) name.byteSize(), 0), "cuDeviceGetName");
            assumeTrue(name.getString(0).contains("emulated"), "-Dtessera.cuda.driver is a real driver: " + name.getString(0));
        }
    }

    EmulatorSession() {
        this(0);
    }

    EmulatorSession(int device) {
        this.device = device;
        CudaDriver.check(CudaDriver.cuInit(0), "cuInit");
        MemorySegment ctx = arena.allocate(ADDRESS);
        CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRetain(ctx, device), "cuDevicePrimaryCtxRetain");
        context = ctx.get(ADDRESS, 0);
        makeCurrent();
        MemorySegment out = arena.allocate(ADDRESS);
        // the emulator runs host builds of the same sources, so any image will do
        CudaDriver.check(CudaDriver.cuModuleLoadData(out, arena.allocateFrom("emulated")), "cuModuleLoadData");
        module = out.get(ADDRESS, 0);
    }

    void makeCurrent() {
        CudaDriver.check(CudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    MemorySegment function(String kernel) {
        MemorySegment function = arena.allocate(ADDRESS);
        CudaDriver.check(CudaDriver.cuModuleGetFunction(function, module, arena.allocateFrom(kernel)), "cuModuleGetFunction");
        return function.get(ADDRESS, 0);
    }

    long alloc(long bytes) {
        MemorySegment dptr = arena.allocate(JAVA_LONG);
        CudaDriver.check(CudaDriver.cuMemAlloc_v2(dptr, bytes), "cuMemAlloc_v2");
        return dptr.get(JAVA_LONG, 0);
    }

    /** A device copy of values; at least one element, as cuMemAlloc refuses zero bytes. */
    long upload(float[] values) {
        return upload(MemorySegment.ofArray(values));
    }

    /** A device copy of host memory (a heap segment too); at least one byte. */
    long upload(MemorySegment host) {
        long device = alloc(Math.max(1, host.byteSize()));
        if (host.byteSize() > 0) {
            CudaDriver.check(CudaDriver.cuMemcpyHtoD_v2(device, arena.allocate(host.byteSize()).copyFrom(host), host.byteSize()),
                    "cuMemcpyHtoD_v2");
        }
        return device;
    }

    float[] downloadFloats(long device, int count) {
        return download(device, JAVA_FLOAT, count).toArray(JAVA_FLOAT);
    }

    /** count elements of the given layout from device memory, in host memory. */
    MemorySegment download(long device, MemoryLayout element, long count) {
        MemorySegment host = arena.allocate(element, Math.max(1, count)).asSlice(0, element.byteSize() * count);
        if (count > 0) {
            CudaDriver.check(CudaDriver.cuMemcpyDtoH_v2(host, device, host.byteSize()), "cuMemcpyDtoH_v2");
        }
        return host;
    }

    /** A NON_BLOCKING stream, destroyed with the context. */
    MemorySegment stream() {
        return stream(CudaDriver.CU_STREAM_NON_BLOCKING);
    }

    MemorySegment stream(int flags) {
        MemorySegment out = arena.allocate(ADDRESS);
        CudaDriver.check(CudaDriver.cuStreamCreate(out, flags), "cuStreamCreate");
        return out.get(ADDRESS, 0);
    }

    MemorySegment event() {
        MemorySegment out = arena.allocate(ADDRESS);
        CudaDriver.check(CudaDriver.cuEventCreate(out, 0), "cuEventCreate");
        return out.get(ADDRESS, 0);
    }

    MemorySegment cublas() {
        Cblas.LIBRARY.lookup(); // the emulated cuBLAS forwards to the OpenBLAS Java loaded
        MemorySegment out = arena.allocate(ADDRESS);
        Cublas.check(Cublas.cublasCreate_v2(out), "cublasCreate_v2");
        cublas = out.get(ADDRESS, 0);
        return cublas;
    }

    /** cuLaunchKernel on a 1-D grid; each argument is a Long (int64_t or a device pointer), an Integer or a Float. */
    int launch(String kernel, int grid, int block, Object... args) {
        return launchShared(kernel, grid, block, 0, args);
    }

    /** As {@link #launch} with sharedBytes of dynamic shared memory per block. */
    int launchShared(String kernel, int grid, int block, int sharedBytes, Object... args) {
        MemorySegment function = function(kernel);
        MemorySegment params = arena.allocate(ADDRESS, args.length);
        for (int i = 0; i < args.length; i++) {
            MemorySegment value = switch (args[i]) {
                case Long l -> arena.allocateFrom(JAVA_LONG, l);
                case Integer n -> arena.allocateFrom(JAVA_INT, n);
                case Float f -> arena.allocateFrom(JAVA_FLOAT, f);
                default -> throw new IllegalArgumentException("argument " + args[i]);
            };
            params.setAtIndex(ADDRESS, i, value);
        }
        return CudaDriver.cuLaunchKernel(function, grid, 1, 1, block, 1, 1, sharedBytes, MemorySegment.NULL, params,
                MemorySegment.NULL);
    }

    @Override
    public void close() {
        if (cublas != null) {
            Cublas.cublasDestroy_v2(cublas); // may report the context's sticky error; the release below still runs
        }
        CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRelease_v2(device), "cuDevicePrimaryCtxRelease_v2");
        arena.close();
    }
}
