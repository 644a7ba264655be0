package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import io.tessera.ffi.CudaDriver;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * tessera_kernels.fatbin from the kernels jar, loaded into a context with cuModuleLoadData; each kernel's
 * function handle is looked up once and cached. A kernel the fatbin lacks is an error naming it.
 */
final class KernelModule {
    private static final int CUDA_ERROR_NOT_FOUND = 500;

    private final MemorySegment module;
    private final ConcurrentMap<String, MemorySegment> functions = new ConcurrentHashMap<>();

    private KernelModule(MemorySegment module) {
        this.module = module;
    }

    /** Loads the fatbin into the current context. */
    static KernelModule load() {
        byte[] image = readImage();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            // the driver copies the image, so it may be freed right after
            CudaDriver.check(CudaDriver.cuModuleLoadData(out, arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_BYTE, image)),
                    "cuModuleLoadData(" + CudaProbe.KERNELS_RESOURCE + ")");
            return new KernelModule(out.get(ADDRESS, 0));
        }
    }

    private static byte[] readImage() {
        try (InputStream in = KernelModule.class.getClassLoader().getResourceAsStream(CudaProbe.KERNELS_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(CudaProbe.KERNELS_RESOURCE + " is not on the class path");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + CudaProbe.KERNELS_RESOURCE, e);
        }
    }

    /** The handle of kernel {@code name} (the context must be current on first use of a name). */
    MemorySegment function(String name) {
        MemorySegment cached = functions.get(name);
        return cached != null ? cached : functions.computeIfAbsent(name, this::lookUp);
    }

    private MemorySegment lookUp(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int status = CudaDriver.cuModuleGetFunction(out, module, arena.allocateFrom(name));
            if (status == CUDA_ERROR_NOT_FOUND) {
                throw new IllegalStateException("CUDA kernel " + name + " is not in " + CudaProbe.KERNELS_RESOURCE
                        + " (kernels/cuda/ has no kernel of that name, or the fatbin is stale: rebuild tessera-kernels)");
            }
            CudaDriver.check(status, "cuModuleGetFunction(" + name + ")");
            return out.get(ADDRESS, 0);
        }
    }
}
