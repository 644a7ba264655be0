package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.tessera.ffi.CudaDriver;
import io.tessera.ffi.CudaException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Device memory with stream-ordered reuse, as PyTorch's caching allocator: a freed block goes to a free
 * list of its size class on the stream it was allocated for, and a later allocation on that stream
 * takes it without synchronising (work on one stream runs in order, so the block's last reader has run
 * by then). Memory used on another stream must be synchronised by the caller (an event) before its
 * tensor closes. When cuMemAlloc runs out of memory, the cache is returned to the driver and the
 * allocation is tried once more. Sizes are rounded to 512 bytes below 1 MiB, to 2 MiB above.
 */
final class CachingAllocator {
    private static final long SMALL_GRANULE = 512;
    private static final long SMALL_LIMIT = 1L << 20;
    private static final long LARGE_GRANULE = 2L << 20;

    /** A device block: its address, its size class, the stream (handle address, 0 = default) it belongs to. */
    record Block(long address, long size, long stream) {}

    private final CudaContext context;
    private final Map<Long, Map<Long, ArrayDeque<Long>>> free = new HashMap<>(); // stream -> size -> addresses
    private long liveBytes;
    private long cachedBytes;

    CachingAllocator(CudaContext context) {
        this.context = context;
    }

    static long sizeClass(long bytes) {
        long granule = bytes <= SMALL_LIMIT ? SMALL_GRANULE : LARGE_GRANULE;
        return Math.max(granule, Math.ceilDiv(bytes, granule) * granule);
    }

    /** A block of at least {@code bytes} (may be 0) for the current stream; counts {@code bytes} as live. */
    synchronized Block allocate(long bytes) {
        long size = sizeClass(bytes);
        long stream = context.stream().address();
        ArrayDeque<Long> cached = free.getOrDefault(stream, Map.of()).get(size);
        long address;
        if (cached != null && !cached.isEmpty()) {
            address = cached.pop();
            cachedBytes -= size;
        } else {
            address = allocateFromDriver(bytes, size);
        }
        liveBytes += bytes;
        return new Block(address, size, stream);
    }

    /** Returns a block to its stream's free list; {@code bytes} is what {@link #allocate} was asked for. */
    synchronized void release(Block block, long bytes) {
        free.computeIfAbsent(block.stream(), s -> new HashMap<>()).computeIfAbsent(block.size(), s -> new ArrayDeque<>())
                .push(block.address());
        cachedBytes += block.size();
        liveBytes -= bytes;
    }

    private long allocateFromDriver(long bytes, long size) {
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            int status = CudaDriver.cuMemAlloc_v2(out, size);
            if (status == CudaDriver.CUDA_ERROR_OUT_OF_MEMORY) {
                long released = emptyCache();
                status = CudaDriver.cuMemAlloc_v2(out, size);
                if (status == CudaDriver.CUDA_ERROR_OUT_OF_MEMORY) {
                    OutOfMemoryError error = new OutOfMemoryError("out of memory on " + context.device() + " allocating " + bytes
                            + " bytes (" + liveBytes + " bytes live, " + released + " cached bytes released before retrying)");
                    error.initCause(failure(status));
                    throw error;
                }
            }
            CudaDriver.check(status, "cuMemAlloc_v2(" + size + ")");
            return out.get(JAVA_LONG, 0);
        }
    }

    private static CudaException failure(int status) {
        try {
            CudaDriver.check(status, "cuMemAlloc_v2");
            throw new AssertionError("status " + status + " is not a failure");
        } catch (CudaException e) {
            return e;
        }
    }

    /** Waits for the device, then frees every cached block; returns the bytes released. */
    synchronized long emptyCache() {
        if (cachedBytes == 0) {
            return 0;
        }
        context.makeCurrent();
        CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
        long released = cachedBytes;
        for (Map<Long, ArrayDeque<Long>> bySize : free.values()) {
            for (ArrayDeque<Long> addresses : bySize.values()) {
                for (long address : addresses) {
                    CudaDriver.check(CudaDriver.cuMemFree_v2(address), "cuMemFree_v2");
                }
            }
        }
        free.clear();
        cachedBytes = 0;
        return released;
    }

    synchronized long liveBytes() {
        return liveBytes;
    }

    synchronized long cachedBytes() {
        return cachedBytes;
    }
}
