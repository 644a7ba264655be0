package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The persistent thread pool behind the decoding kernels (kernels/cpu/ts_pool.h): whatever the number of chunks and
 * of threads, each chunk runs exactly once per job. The chunk counts cover one range per thread, uneven ranges, and
 * more than 65535 chunks per range (where a claim takes several consecutive chunks); the jobs repeat so that a
 * worker still finishing one job meets the next.
 */
class ThreadPoolTest {
    private final int threadsBefore = TesseraCpu.ts_omp_max_threads();

    @AfterEach
    void restoreThreads() {
        TesseraCpu.ts_omp_set_threads(threadsBefore);
    }

    @ParameterizedTest(name = "{0} chunks, {1} threads, {2} jobs")
    @CsvSource({"0, 2, 3", "1, 2, 3", "2, 2, 200", "3, 2, 200", "7, 3, 200", "1000, 2, 50", "1001, 5, 50",
                "131071, 2, 3", "300001, 3, 3"})
    void runsEveryChunkExactlyOnce(long chunks, int threads, int jobs) {
        TesseraCpu.ts_omp_set_threads(threads);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment counts = arena.allocate(JAVA_INT, Math.max(chunks, 1));
            for (int job = 0; job < jobs; job++) {
                counts.fill((byte) 0);
                TesseraCpu.ts_pool_cover(chunks, counts);
                for (long c = 0; c < chunks; c++) {
                    assertEquals(1, counts.getAtIndex(JAVA_INT, c), "chunk " + c + " of " + chunks + " in job " + job);
                }
            }
        }
    }
}
