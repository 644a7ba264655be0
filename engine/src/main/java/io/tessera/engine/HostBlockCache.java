package io.tessera.engine;

import io.tessera.ffi.Libc;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Keeps freed large host blocks for reuse by exact (rounded) size. glibc serves blocks of more than
 * 32 MiB with a fresh mmap, so without this every big temporary (an eager op's result) would pay page
 * faults on first touch, costing more than the op itself. Blocks under {@link #MIN_BLOCK} go straight
 * back to malloc, which already recycles them. Capacity: -Dtessera.host.cache.bytes (default 1 GiB).
 * Blocks of {@link #HUGE_BLOCK} and more are 2 MiB-aligned, rounded up to whole 2 MiB pages (under 2 MiB lost
 * per block) and advised onto transparent huge pages: an op that touches a large tensor at
 * scattered places (a masked optimizer step over 0.5% of a 100M parameter) otherwise misses the TLB on nearly
 * every access, and streaming a decoding step's weights (int8 matrices of 4-12 MiB) was 11% slower on 4 KiB
 * pages, where each page costs a TLB miss and stops the hardware prefetchers.
 */
final class HostBlockCache {
    static final long MIN_BLOCK = 1L << 20;
    static final long HUGE_BLOCK = 4L << 20;
    private static final long HUGE_PAGE = 2L << 20;
    private static final long CAPACITY = Long.getLong("tessera.host.cache.bytes", 1L << 30);

    private static final Map<Long, ConcurrentLinkedDeque<MemorySegment>> FREE = new ConcurrentHashMap<>();
    private static final AtomicLong CACHED = new AtomicLong();

    private HostBlockCache() {}

    /** A block of exactly {@code size} bytes (a multiple of 64), reused if one is cached, else freshly allocated. */
    static MemorySegment take(long size) {
        if (size >= MIN_BLOCK) {
            ConcurrentLinkedDeque<MemorySegment> blocks = FREE.get(size);
            MemorySegment block = blocks == null ? null : blocks.pollFirst();
            if (block != null) {
                CACHED.addAndGet(-size);
                return block;
            }
        }
        MemorySegment raw = allocate(size);
        if (raw.equals(MemorySegment.NULL) && size >= MIN_BLOCK && emptyCache() > 0) {
            raw = allocate(size); // retry once with the cache returned to the system
        }
        return raw;
    }

    private static MemorySegment allocate(long size) {
        if (size < HUGE_BLOCK) {
            return Libc.aligned_alloc(HostStorage.ALIGNMENT, size);
        }
        long whole = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        MemorySegment raw = Libc.aligned_alloc(HUGE_PAGE, whole);
        if (!raw.equals(MemorySegment.NULL)) {
            Libc.madvise(raw, whole, Libc.MADV_HUGEPAGE); // advice only: without THP the block works the same
        }
        return raw;
    }

    /** Returns a block: cached while there is room, else freed. */
    static void give(MemorySegment block, long size) {
        if (size >= MIN_BLOCK && CACHED.addAndGet(size) <= CAPACITY) {
            FREE.computeIfAbsent(size, s -> new ConcurrentLinkedDeque<>()).addFirst(block);
            return;
        }
        if (size >= MIN_BLOCK) {
            CACHED.addAndGet(-size);
        }
        Libc.free(block);
    }

    /** Bytes held for reuse. */
    static long cachedBytes() {
        return CACHED.get();
    }

    /** Frees every cached block; returns the bytes released. */
    static long emptyCache() {
        long released = 0;
        for (ConcurrentLinkedDeque<MemorySegment> blocks : FREE.values()) {
            for (MemorySegment block; (block = blocks.pollFirst()) != null; ) {
                long size = block.byteSize();
                CACHED.addAndGet(-size);
                released += size;
                Libc.free(block);
            }
        }
        return released;
    }
}
