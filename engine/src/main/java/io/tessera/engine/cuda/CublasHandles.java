package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import io.tessera.ffi.Cublas;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/** One cuBLAS handle per stream of a context, made on first use and bound to its stream. */
final class CublasHandles {
    private final CudaContext context;
    private final Map<Long, MemorySegment> byStream = new HashMap<>();

    CublasHandles(CudaContext context) {
        this.context = context;
    }

    /** The handle for the current stream. */
    synchronized MemorySegment current() {
        MemorySegment stream = context.stream();
        MemorySegment handle = byStream.get(stream.address());
        if (handle == null) {
            context.makeCurrent();
            if (!Cublas.LIBRARY.isAvailable()) {
                throw new IllegalStateException("matmul on " + context.device() + " needs cuBLAS: "
                        + Cublas.LIBRARY.unavailableReason().orElse(""));
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ADDRESS);
                Cublas.check(Cublas.cublasCreate_v2(out), "cublasCreate_v2");
                handle = out.get(ADDRESS, 0);
            }
            Cublas.check(Cublas.cublasSetStream_v2(handle, stream), "cublasSetStream_v2");
            byStream.put(stream.address(), handle);
        }
        return handle;
    }

    /** Destroys the handle of a stream that is being destroyed, if it has one. */
    synchronized void forget(MemorySegment stream) {
        MemorySegment handle = byStream.remove(stream.address());
        if (handle != null) {
            context.makeCurrent();
            Cublas.check(Cublas.cublasDestroy_v2(handle), "cublasDestroy_v2");
        }
    }
}
