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

    @Test
    void workOnAUserStreamIsOrderedByEvents() throws Exception {
        try (TensorScope scope = TensorScope.open(); CudaStream stream = backend.newStream(); CudaEvent start = backend.newEvent();
             CudaEvent done = backend.newEvent()) {
            Tensor x = Tensor.of(new float[] {1, 2, 3}, 3).to(Device.cuda(0));
            Tensor y;
            try (AutoCloseable use = backend.use(stream)) {
                start.record();
                y = x.to(Device.CPU).to(Device.cuda(0));
                backend.fill(y, 7);
                done.record();
            }
            done.synchronize();
            assertTrue(done.isDone());
            assertTrue(done.millisSince(start) >= 0);
            assertArrayEquals(new float[] {7, 7, 7}, y.toFloatArray());
        }
    }
}
