package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The emulated driver's warp primitives, block order and divergence checks (native-build/cuda-emu/fibers.cpp),
 * through the test kernels of kernels/cuda-test/warp_primitives.cu and planted_divergence.cu: each primitive
 * against the CUDA programming guide's rule restated in plain Java, and misuse a GPU would hang on or get
 * wrong reported as a failed launch naming the kernel.
 */
class CudaEmulatorWarpTest {
    private static final int WARP = 32;
    private static final int CUDA_ERROR_LAUNCH_FAILED = 719;

    @BeforeAll
    static void emulatedDriver() {
        EmulatorSession.assumeEmulatedDriver();
    }

    /** Shuffles within segments of `width` lanes; a shift past the segment's start or end keeps the lane's own value. */
    @ParameterizedTest
    @CsvSource({"shfl, 5, 32", "shfl, 37, 8", "shfl, 3, 1", "shfl_up, 1, 32", "shfl_up, 3, 8", "shfl_up, 0, 32", "shfl_down, 1, 32",
        "shfl_down, 3, 8", "shfl_down, 0, 32", "shfl_xor, 1, 32", "shfl_xor, 20, 16", "shfl_xor, 4, 4"})
    void shufflesFollowTheProgrammingGuide(String op, int arg, int width) {
        int block = 64;
        int blocks = 3;
        float[] x = new float[block * blocks];
        for (int i = 0; i < x.length; i++) {
            x[i] = i + 0.5f;
        }
        try (EmulatorSession s = new EmulatorSession()) {
            long dx = s.upload(x);
            long dy = s.upload(new float[x.length]);
            CudaDriver.check(s.launch("ts_test_" + op + "_f32", blocks, block, dx, arg, width, dy), "cuLaunchKernel");
            float[] y = s.downloadFloats(dy, x.length);
            for (int i = 0; i < x.length; i++) {
                int lane = i % WARP;
                int segment = lane / width * width;
                int source = switch (op) {
                    case "shfl" -> segment + Math.floorMod(arg, width);
                    case "shfl_up" -> lane - segment >= arg ? lane - arg : lane;
                    case "shfl_down" -> lane - segment + arg < width ? lane + arg : lane;
                    default -> (lane ^ arg) < segment + width ? lane ^ arg : lane;
                };
                assertEquals(x[i - lane + source], y[i], op + " " + arg + " width " + width + ", thread " + i);
            }
        }
    }

    /** Ballot, all and any over the lanes of the mask; lanes outside it do not vote. */
    @ParameterizedTest
    @ValueSource(ints = {0xffffffff, 0x0000ffff, 0xf0f0f00f, 0x80000000})
    void votesCountOnlyTheLanesOfTheMask(int mask) {
        int block = 64;
        int blocks = 2;
        Random random = new Random(mask);
        float[] x = new float[block * blocks];
        for (int i = 0; i < x.length; i++) {
            x[i] = i % 64 < 32 ? (float) random.nextGaussian() : 1f; // the second warp of each block votes yes everywhere
        }
        int untouched = 0x5eed;
        try (EmulatorSession s = new EmulatorSession()) {
            long dx = s.upload(x);
            int[] initial = new int[3 * x.length];
            Arrays.fill(initial, untouched);
            long votes = s.upload(MemorySegment.ofArray(initial));
            CudaDriver.check(s.launch("ts_test_votes_f32", blocks, block, dx, mask, votes), "cuLaunchKernel");
            int[] got = s.download(votes, JAVA_INT, initial.length).toArray(JAVA_INT);
            for (int i = 0; i < x.length; i++) {
                int[] expected = {untouched, untouched, untouched};
                if ((mask >>> (i % WARP) & 1) != 0) {
                    int ballot = 0;
                    for (int lane = 0; lane < WARP; lane++) {
                        if ((mask >>> lane & 1) != 0 && x[i - i % WARP + lane] > 0) {
                            ballot |= 1 << lane;
                        }
                    }
                    expected = new int[] {ballot, ballot == mask ? 1 : 0, ballot != 0 ? 1 : 0};
                }
                assertArrayEquals(expected, Arrays.copyOfRange(got, 3 * i, 3 * i + 3), "thread " + i);
            }
        }
    }

    /** The block scan (kernels/cuda/block_scan.cuh) at block sizes of whole warps and not, against a running sum. */
    @ParameterizedTest
    @ValueSource(ints = {1, 32, 48, 256, 1000, 1024})
    void blockScanGivesEachThreadTheSumBelowIt(int block) {
        int blocks = 3;
        int[] x = new Random(block).ints(block * blocks, -1000, 1000).toArray();
        try (EmulatorSession s = new EmulatorSession()) {
            long dx = s.upload(MemorySegment.ofArray(x));
            long dy = s.alloc(4L * x.length);
            long totals = s.alloc(4L * blocks);
            CudaDriver.check(s.launch("ts_test_block_scan_i32", blocks, block, dx, dy, totals), "cuLaunchKernel");
            int[] y = s.download(dy, JAVA_INT, x.length).toArray(JAVA_INT);
            int[] sums = s.download(totals, JAVA_INT, blocks).toArray(JAVA_INT);
            for (int b = 0; b < blocks; b++) {
                int below = 0;
                for (int t = 0; t < block; t++) {
                    assertEquals(below, y[b * block + t], "block " + b + ", thread " + t);
                    below += x[b * block + t];
                }
                assertEquals(below, sums[b], "block " + b + "'s total");
            }
        }
    }

    /** A butterfly sum, each lane's value changing at every step, is right only if lanes exchange in lockstep. */
    @Test
    void aButterflySumSeesEachStepsValues() {
        int block = 128;
        int blocks = 2;
        double[] x = new Random(7).doubles(block * blocks).toArray();
        try (EmulatorSession s = new EmulatorSession()) {
            long dx = s.upload(MemorySegment.ofArray(x));
            long dy = s.alloc(8L * x.length / WARP);
            CudaDriver.check(s.launch("ts_test_warp_sum_f64", blocks, block, dx, dy), "cuLaunchKernel");
            double[] y = s.download(dy, JAVA_DOUBLE, x.length / WARP).toArray(JAVA_DOUBLE);
            for (int w = 0; w < y.length; w++) {
                double expected = 0;
                for (int lane = 0; lane < WARP; lane++) {
                    expected += x[w * WARP + lane];
                }
                assertEquals(expected, y[w], 1e-12, "warp " + w);
            }
        }
    }

    /**
     * Blocks run in a seeded order, not by index: each runs once, some grids' orders are not the index order,
     * and one launch's order repeats under the same seed (so a failure can be replayed with TESSERA_CUDA_EMU_SEED).
     */
    @Test
    void blocksRunOnceEachInASeededOrder() {
        try (EmulatorSession s = new EmulatorSession()) {
            boolean shuffled = false;
            for (int blocks : new int[] {63, 64, 100, 128}) {
                long[] order = blockOrder(s, blocks);
                assertArrayEquals(IntStream.range(0, blocks).asLongStream().toArray(), Arrays.stream(order).sorted().toArray(),
                        "each of " + blocks + " blocks once");
                shuffled |= !Arrays.equals(order, IntStream.range(0, blocks).asLongStream().toArray());
                assertArrayEquals(order, blockOrder(s, blocks), "the same order under the same seed");
            }
            assertTrue(shuffled, "no grid ran in an order other than the blocks' indices");
        }
    }

    private static long[] blockOrder(EmulatorSession s, int blocks) {
        long counter = s.upload(MemorySegment.ofArray(new long[1]));
        long order = s.alloc(8L * blocks);
        CudaDriver.check(s.launch("ts_test_block_order", blocks, 32, counter, order), "cuLaunchKernel");
        return s.download(order, JAVA_LONG, blocks).toArray(JAVA_LONG);
    }

    @Test
    void aSyncthreadsReachedByHalfTheBlockFailsTheLaunch() {
        assertLaunchFails("ts_test_planted_divergent_syncthreads", 64,
                "__syncthreads not reached by every thread in block", "waits at __syncthreads at", "has exited");
    }

    @Test
    void aShuffleReachedByHalfItsMaskFailsTheLaunch() {
        assertLaunchFails("ts_test_planted_divergent_shfl", 64,
                "a warp primitive not reached by every lane of its mask", "waits at __shfl_down_sync(0xffffffff)", "has exited");
    }

    /** A full mask in a block of 48 threads names lanes 16 to 31 of the second warp, which do not exist. */
    @Test
    void aMaskNamingLanesTheBlockLacksFailsTheLaunch() {
        try (EmulatorSession s = new EmulatorSession()) {
            long x = s.upload(new float[48]);
            CudaDriver.check(s.launch("ts_test_shfl_down_f32", 1, 48, x, 1, WARP, x), "cuLaunchKernel");
            assertEquals(CUDA_ERROR_LAUNCH_FAILED, CudaDriver.cuCtxSynchronize());
            String report = CudaEmulatorHooks.lastLaunchFailure();
            assertTrue(report.startsWith("kernel ts_test_shfl_down_f32: __shfl_down_sync(0xffffffff) at ")
                    && report.contains("the mask names lane 16, which block (0,0,0) of 48 threads does not have"), report);
        }
    }

    private static void assertLaunchFails(String kernel, int block, String... reported) {
        try (EmulatorSession s = new EmulatorSession()) {
            long y = s.upload(new float[2 * block]);
            CudaDriver.check(s.launch(kernel, 2, block, y), "cuLaunchKernel");
            assertEquals(CUDA_ERROR_LAUNCH_FAILED, CudaDriver.cuCtxSynchronize(), "the launch fails instead of hanging");
            assertEquals(CUDA_ERROR_LAUNCH_FAILED, CudaDriver.cuCtxSynchronize(), "sticky, as a hung kernel's timeout is");
            String report = CudaEmulatorHooks.lastLaunchFailure();
            assertTrue(report.startsWith("kernel " + kernel + ": ") && report.contains("planted_divergence.cu:")
                    && report.contains("TESSERA_CUDA_EMU_SEED="), report);
            for (String part : reported) {
                assertTrue(report.contains(part), report);
            }
        }
    }
}
