package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import io.tessera.ffi.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Host-device copies through one page-locked host buffer per context (cuMemAllocHost), in chunks: the
 * caller's memory may be on the Java heap or pageable, which the driver cannot DMA from, and pinned memory
 * is what lets a copy run asynchronously on the stream. Each chunk waits for its copy before the buffer is
 * reused, so a transfer is complete when a call returns. The buffer lives as long as the context.
 */
final class PinnedStaging {
    private static final long CHUNK = 8L << 20;

    private final CudaContext context;
    private MemorySegment buffer;

    PinnedStaging(CudaContext context) {
        this.context = context;
    }

    /** Copies {@code bytes} from host {@code src} to device address {@code dst}. */
    synchronized void upload(MemorySegment src, long dst, long bytes) {
        MemorySegment pinned = buffer();
        for (long done = 0; done < bytes; done += CHUNK) {
            long n = Math.min(CHUNK, bytes - done);
            MemorySegment.copy(src, done, pinned, 0, n);
            CudaDriver.check(CudaDriver.cuMemcpyHtoDAsync_v2(dst + done, pinned, n, context.stream()), "cuMemcpyHtoDAsync_v2");
            context.synchronizeStream();
        }
    }

    /** Copies {@code bytes} from device address {@code src} to host {@code dst}, after the stream's earlier work. */
    synchronized void download(long src, MemorySegment dst, long bytes) {
        MemorySegment pinned = buffer();
        for (long done = 0; done < bytes; done += CHUNK) {
            long n = Math.min(CHUNK, bytes - done);
            CudaDriver.check(CudaDriver.cuMemcpyDtoHAsync_v2(pinned, src + done, n, context.stream()), "cuMemcpyDtoHAsync_v2");
            context.synchronizeStream();
            MemorySegment.copy(pinned, 0, dst, done, n);
        }
    }

    private MemorySegment buffer() {
        context.makeCurrent();
        if (buffer == null) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ADDRESS);
                CudaDriver.check(CudaDriver.cuMemAllocHost_v2(out, CHUNK), "cuMemAllocHost_v2");
                buffer = out.get(ADDRESS, 0).reinterpret(CHUNK);
            }
        }
        return buffer;
    }
}
