package io.tessera.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.ffi.CudaEmulatorHooks.AccessStats;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The emulated driver's access recorder (native-build/cuda-emu/recorder.cpp): per kernel, how many of each
 * warp's global loads and stores touch no more 32-byte sectors than their bytes need, and the bytes moved.
 * Checked on kernels whose traffic is known by hand: axpy (coalesced), a planted strided load and float4 copies
 * (kernels/cuda-test/planted_strided.cu).
 */
class CudaAccessRecorderTest {
    private static final int N = 4096;
    private static final int BLOCK = 256;

    @BeforeAll
    static void emulatedDriver() {
        EmulatorSession.assumeEmulatedDriver();
    }

    @AfterEach
    void stopRecording() {
        CudaEmulatorHooks.recordAccesses(false);
    }

    private static AccessStats recorded(String kernel) {
        return CudaEmulatorHooks.accessStats(kernel).orElseThrow(() -> new AssertionError(kernel + " was not recorded"));
    }

    @Test
    void axpyIsCoalescedAndMovesTheBytesItAsksFor() {
        try (EmulatorSession s = new EmulatorSession()) {
            long x = s.upload(new float[N]);
            long y = s.upload(new float[N]);
            CudaEmulatorHooks.recordAccesses(true);
            CudaDriver.check(s.launch("ts_axpy_f32", 4, BLOCK, (long) N, 2f, x, y), "cuLaunchKernel");
            CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            AccessStats a = recorded("ts_axpy_f32");
            assertEquals(1, a.launches());
            assertEquals(2 * N / 32, a.loads().requests(), "x[i] and y[i], once per warp and iteration");
            assertEquals(1.0, a.loads().coalescedShare());
            assertEquals(1.0, a.stores().coalescedShare());
            assertEquals(8L * N, a.loads().bytesRequested());
            assertEquals(4L * N, a.stores().bytesRequested());
            assertEquals(12L * N, a.bytesMoved(), "aligned: whole sectors, no waste");
            assertEquals(0, a.dropped());
        }
    }

    /** x one float past its allocation's aligned start: each warp's 128 bytes of x straddle 5 sectors, not 4. */
    @Test
    void aMisalignedViewIsNotCoalesced() {
        try (EmulatorSession s = new EmulatorSession()) {
            long x = s.upload(new float[N + 1]);
            long y = s.upload(new float[N]);
            CudaEmulatorHooks.recordAccesses(true);
            CudaDriver.check(s.launch("ts_axpy_f32", 4, BLOCK, (long) N, 2f, x + 4, y), "cuLaunchKernel");
            CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            AccessStats a = recorded("ts_axpy_f32");
            assertEquals(0.5, a.loads().coalescedShare(), "x misaligned, y aligned");
            assertEquals(N / 32 * (5 + 4), a.loads().sectors());
        }
    }

    @Test
    void aStridedLoadIsReportedAsUncoalesced() {
        int stride = 32;
        try (EmulatorSession s = new EmulatorSession()) {
            long x = s.upload(new float[N * stride]);
            long y = s.upload(new float[N]);
            CudaEmulatorHooks.recordAccesses(true);
            CudaDriver.check(s.launch("ts_test_planted_strided_load_f32", 4, BLOCK, (long) N, (long) stride, x, y), "cuLaunchKernel");
            CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            AccessStats a = recorded("ts_test_planted_strided_load_f32");
            assertEquals(0.0, a.loads().coalescedShare());
            assertEquals(N, a.loads().sectors(), "a sector per lane");
            assertEquals(N / 8, a.loads().neededSectors());
            assertEquals(32L * N, a.loads().bytesMoved(), "8 times the 4 N bytes asked for");
            assertEquals(1.0, a.stores().coalescedShare());
        }
    }

    /** float4 loads are 16-byte accesses: a warp's request asks for 512 bytes, 16 sectors. */
    @Test
    void vectorLoadsAreCoalesced() {
        try (EmulatorSession s = new EmulatorSession()) {
            long x = s.upload(new float[N]);
            long y = s.upload(new float[N]);
            CudaEmulatorHooks.recordAccesses(true);
            CudaDriver.check(s.launch("ts_test_copy_f32x4", 2, BLOCK, (long) N / 4, x, y), "cuLaunchKernel");
            CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            AccessStats a = recorded("ts_test_copy_f32x4");
            assertEquals(N / 4 / 32, a.loads().requests());
            assertEquals(1.0, a.loads().coalescedShare());
            assertEquals(4L * N, a.loads().bytesMoved());
        }
    }

    /** Only launches made while recording is on are recorded; switching it on clears earlier records. */
    @Test
    void recordingIsPerLaunch() {
        try (EmulatorSession s = new EmulatorSession()) {
            long y = s.upload(new float[N]);
            CudaEmulatorHooks.recordAccesses(true);
            CudaDriver.check(s.launch("ts_axpy_f32", 4, BLOCK, (long) N, 2f, y, y), "cuLaunchKernel");
            CudaEmulatorHooks.recordAccesses(false);
            CudaDriver.check(s.launch("ts_axpy_f32", 4, BLOCK, (long) N, 2f, y, y), "cuLaunchKernel");
            CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            assertEquals(1, recorded("ts_axpy_f32").launches(), "the launch made while recording was off is not counted");
            CudaEmulatorHooks.recordAccesses(true);
            assertTrue(CudaEmulatorHooks.accessStats("ts_axpy_f32").isEmpty());
        }
    }
}
