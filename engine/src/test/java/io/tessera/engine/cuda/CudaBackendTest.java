package io.tessera.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.engine.Backends;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.ffi.Cblas;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend's machinery (the ops themselves are in the Backend conformance suites): the caching
 * allocator's reuse, out-of-memory retry and live-byte accounting, kernel lookup, streams and events,
 * and clear errors for tensors on the wrong device. Skipped with the reason where CUDA is unavailable.
 */
class CudaBackendTest {
    private static CudaBackend backend;

    @BeforeAll
    static void cuda() {
        Backends.unavailableReason(Device.Kind.CUDA).ifPresent(reason -> assumeTrue(false, "CUDA backend unavailable: " + reason));
        Cblas.LIBRARY.lookup(); // the emulated cuBLAS forwards to the OpenBLAS this JVM loaded
        backend = CudaBackendProvider.get(0);
    }

    @Test
    void freedBlocksAreReusedAndLiveBytesReturnToZero() {
        long live = backend.liveBytes();
        long address;
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.empty(Device.cuda(0), DType.F32, 1000);
            assertEquals(live + 4000, backend.liveBytes());
            address = ((io.tessera.engine.DeviceStorage) x.storage()).address();
        }
        assertEquals(live, backend.liveBytes());
        assertTrue(backend.cachedBytes() >= CachingAllocator.sizeClass(4000));
        try (Tensor again = Tensor.empty(Device.cuda(0), DType.F32, 999)) { // the same 4096-byte size class
            assertEquals(address, ((io.tessera.engine.DeviceStorage) again.storage()).address(), "a cached block is reused");
        }
        assertEquals(live, backend.liveBytes());
    }

    /** The emulated device has 4 GiB: the second allocation fits only once the cached first one is released. */
    @Test
    void outOfMemoryEmptiesTheCacheAndRetriesOnce() {
        assumeTrue(backend.deviceName().contains("emulated"), "needs the emulated driver's fixed 4 GiB");
        Tensor.empty(Device.cuda(0), DType.U8, 3L << 30).close();
        assertTrue(backend.cachedBytes() >= 3L << 30);
        try (Tensor second = Tensor.empty(Device.cuda(0), DType.U8, 2L << 30)) {
            assertEquals(2L << 30, second.storage().byteSize());
        }
        OutOfMemoryError e = assertThrows(OutOfMemoryError.class, () -> Tensor.empty(Device.cuda(0), DType.U8, 5L << 30));
        assertTrue(e.getMessage().contains("cuda:0"), e.getMessage());
        backend.emptyCache();
        assertEquals(0, backend.cachedBytes());
    }

    @Test
    void aMissingKernelIsAnErrorNamingIt() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> backend.context().module().function("ts_no_such_kernel"));
        assertTrue(e.getMessage().contains("ts_no_such_kernel"), e.getMessage());
    }

    @Test
    void aHostTensorHandedToTheCudaBackendIsRefusedByName() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor host = Tensor.zeros(3);
            Tensor device = Tensor.empty(Device.cuda(0), DType.F32, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.copy(host, device));
            assertTrue(e.getMessage().contains("copy") && e.getMessage().contains("f32[3] on cpu"), e.getMessage());
        }
    }

    /**
     * Stream b sees what stream a wrote once it waits for an event a recorded after writing. This can fail:
     * the emulated driver runs each stream's work only when something waits for it (CudaEmulatorTest
     * shows that without the wait, b reads the buffer as it was), so a record on the wrong stream or a
     * wait that does not reach the driver leaves b reading zeros.
     */
    @Test
    void aStreamSeesAnotherStreamsWritesAfterWaitingForItsEvent() throws Exception {
        try (TensorScope scope = TensorScope.open(); CudaStream a = backend.newStream(); CudaStream b = backend.newStream();
             CudaEvent written = backend.newEvent()) {
            Tensor x = Tensor.zeros(3).to(Device.cuda(0));
            try (AutoCloseable onA = backend.use(a)) {
                backend.fill(x, 7);
                written.record();
            }
            b.waitFor(written);
            try (AutoCloseable onB = backend.use(b)) {
                Tensor y = Tensor.empty(Device.cuda(0), DType.F32, 3);
                backend.copy(x, y);
                assertArrayEquals(new float[] {7, 7, 7}, y.toFloatArray()); // read on b: waits for b's work only
            }
        }
    }

    /**
     * One thread's work on cuda:0, then cuda:1, then cuda:0 again runs each step in its own device's
     * context (the emulated driver refuses another context's memory, modules and functions). On a fresh
     * thread and on this one, which earlier tests bound to cuda:0.
     */
    @Test
    void aThreadSwitchingDevicesRunsEachStepOnItsOwnDevice() throws Exception {
        assumeTrue(CudaProbe.result().deviceCount() >= 2, "needs two CUDA devices (the emulated driver has two in the engine's tests)");
        float[] x = {1, 2, 3, 4};
        float[] squares = {1, 4, 9, 16};
        // (x + x + x) @ x for x = [[1, 2], [3, 4]]
        float[] product = {3 * 1 + 6 * 3, 3 * 2 + 6 * 4, 9 * 1 + 12 * 3, 9 * 2 + 12 * 4};
        Callable<float[][]> work = () -> {
            try (TensorScope scope = TensorScope.open()) {
                Tensor on0 = Tensor.of(x, 2, 2).to(Device.cuda(0));
                Tensor twice = on0.add(on0);
                Tensor on1 = Tensor.of(x, 2, 2).to(Device.cuda(1));
                Tensor squared = on1.mul(on1);
                Tensor third = twice.add(on0).matmul(on0); // cuda:0 again: a kernel and a cuBLAS GEMM
                return new float[][] {third.toFloatArray(), squared.toFloatArray(), on0.add(on0).toFloatArray()};
            }
        };
        ExecutorService fresh = Executors.newSingleThreadExecutor();
        try {
            for (float[][] results : new float[][][] {fresh.submit(work).get(), work.call()}) {
                assertArrayEquals(product, results[0], "cuda:0 after cuda:1");
                assertArrayEquals(squares, results[1], "cuda:1");
                assertArrayEquals(new float[] {2, 4, 6, 8}, results[2], "cuda:0 after cuda:1 again");
            }
        } finally {
            fresh.shutdown();
        }
    }
}
