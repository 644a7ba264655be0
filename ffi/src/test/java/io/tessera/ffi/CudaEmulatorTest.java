package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The emulated CUDA driver (native-build/cuda-emu), which surefire selects with -Dtessera.cuda.driver:
 * the driver and cuBLAS calls CudaDriver and Cublas bind, and host builds of kernels/cuda/*.cu launched
 * through cuLaunchKernel, checked against float64 references. Each test retains and releases the primary
 * context, so the one that breaks it (an illegal address is sticky) leaves a fresh one for the next.
 */
class CudaEmulatorTest {
    private static final int CUDA_ERROR_INVALID_VALUE = 1;
    private static final int CUDA_ERROR_INVALID_HANDLE = 400;
    private static final int CUDA_ERROR_NOT_FOUND = 500;
    private static final int CUDA_ERROR_ILLEGAL_ADDRESS = 700;
    private static final int CUBLAS_STATUS_NOT_SUPPORTED = 15;
    private static final int BLOCK = 256;

    @BeforeAll
    static void emulatedDriver() {
        EmulatorSession.assumeEmulatedDriver();
    }

    @Test
    void describesAnSm80LikeDevice() {
        try (EmulatorSession s = new EmulatorSession()) {
            MemorySegment value = s.arena.allocate(JAVA_INT);
            CudaDriver.check(CudaDriver.cuDeviceGetCount(value), "cuDeviceGetCount");
            assertEquals(configuredDevices(), value.get(JAVA_INT, 0));
            CudaDriver.check(CudaDriver.cuDriverGetVersion(value), "cuDriverGetVersion");
            assertEquals(13000, value.get(JAVA_INT, 0));
            int[][] expected = {
                {CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024},
                {CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 48 * 1024},
                {CudaDriver.CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32},
                {CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 108},
                {CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 8},
                {CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0},
            };
            for (int[] attribute : expected) {
                CudaDriver.check(CudaDriver.cuDeviceGetAttribute(value, attribute[0], 0), "cuDeviceGetAttribute");
                assertEquals(attribute[1], value.get(JAVA_INT, 0), "attribute " + attribute[0]);
            }
            MemorySegment total = s.arena.allocate(JAVA_LONG);
            MemorySegment free = s.arena.allocate(JAVA_LONG);
            CudaDriver.check(CudaDriver.cuDeviceTotalMem_v2(total, 0), "cuDeviceTotalMem_v2");
            CudaDriver.check(CudaDriver.cuMemGetInfo_v2(free, total), "cuMemGetInfo_v2");
            long before = free.get(JAVA_LONG, 0);
            s.alloc(1000);
            CudaDriver.check(CudaDriver.cuMemGetInfo_v2(free, total), "cuMemGetInfo_v2");
            assertEquals(before - 1024, free.get(JAVA_LONG, 0), "1000 bytes take 1024 (256-byte granules)");
        }
    }

    @Test
    void copiesRoundTripAndRejectsRangesOutsideAnAllocation() {
        try (EmulatorSession s = new EmulatorSession()) {
            byte[] data = new byte[1000];
            new Random(1).nextBytes(data);
            long buffer = s.alloc(data.length);
            MemorySegment host = s.arena.allocate(data.length);
            host.copyFrom(MemorySegment.ofArray(data));
            CudaDriver.check(CudaDriver.cuMemcpyHtoD_v2(buffer, host, data.length), "cuMemcpyHtoD_v2");
            long copy = s.alloc(data.length);
            CudaDriver.check(CudaDriver.cuMemcpyDtoDAsync_v2(copy, buffer, data.length, MemorySegment.NULL), "cuMemcpyDtoDAsync_v2");
            MemorySegment back = s.arena.allocate(data.length);
            CudaDriver.check(CudaDriver.cuMemcpyDtoH_v2(back, copy, data.length), "cuMemcpyDtoH_v2");
            assertArrayEquals(data, back.toArray(JAVA_BYTE));

            assertInvalidValue("cuMemcpyHtoD_v2", CudaDriver.cuMemcpyHtoD_v2(buffer, host, data.length + 1));
            assertInvalidValue("cuMemcpyDtoH_v2", CudaDriver.cuMemcpyDtoH_v2(back, buffer + 1, data.length));
            assertInvalidValue("cuMemcpyDtoDAsync_v2", CudaDriver.cuMemcpyDtoDAsync_v2(copy + 8, buffer, data.length, MemorySegment.NULL));
            assertInvalidValue("cuMemsetD32Async", CudaDriver.cuMemsetD32Async(buffer + 4, 0, data.length / 4, MemorySegment.NULL));
            assertInvalidValue("cuMemsetD32Async", CudaDriver.cuMemsetD32Async(buffer + 2, 0, 1, MemorySegment.NULL));
            assertInvalidValue("cuMemFree_v2", CudaDriver.cuMemFree_v2(buffer + 8));
            CudaDriver.check(CudaDriver.cuMemFree_v2(copy), "cuMemFree_v2");
            assertInvalidValue("cuMemFree_v2", CudaDriver.cuMemFree_v2(copy));
            assertInvalidValue("cuMemcpyDtoH_v2", CudaDriver.cuMemcpyDtoH_v2(back, copy, 1));
            // refused calls leave the context usable
            CudaDriver.check(CudaDriver.cuMemsetD8Async(buffer, (byte) 7, data.length, MemorySegment.NULL), "cuMemsetD8Async");
            CudaDriver.check(CudaDriver.cuMemcpyDtoH_v2(back, buffer, data.length), "cuMemcpyDtoH_v2");
            assertEquals(7, back.get(JAVA_BYTE, data.length - 1));
        }
    }

    /** TESSERA_CUDA_EMU_DEVICES, which the emulator reads at cuInit (1 when unset). */
    private static int configuredDevices() {
        return Integer.parseInt(System.getenv().getOrDefault("TESSERA_CUDA_EMU_DEVICES", "1"));
    }

    /**
     * Memory and functions belong to the context they were made in, and each device has its own memory:
     * while another device's context is current, they are refused, so work on the wrong device shows.
     */
    @Test
    void anotherDevicesContextRefusesThisDevicesMemoryAndFunctions() {
        assumeTrue(configuredDevices() >= 2, "needs TESSERA_CUDA_EMU_DEVICES=2 (set by this module's surefire configuration)");
        try (EmulatorSession zero = new EmulatorSession(0)) {
            long onZero = zero.upload(new float[] {1, 2, 3});
            MemorySegment axpy = zero.function("ts_axpy_f32");
            try (EmulatorSession one = new EmulatorSession(1)) { // now current
                MemorySegment free = one.arena.allocate(JAVA_LONG);
                MemorySegment total = one.arena.allocate(JAVA_LONG);
                CudaDriver.check(CudaDriver.cuMemGetInfo_v2(free, total), "cuMemGetInfo_v2");
                assertEquals(total.get(JAVA_LONG, 0), free.get(JAVA_LONG, 0), "cuda:1's memory is its own");
                MemorySegment back = one.arena.allocate(JAVA_FLOAT, 3);
                assertInvalidValue("cuMemcpyDtoH_v2", CudaDriver.cuMemcpyDtoH_v2(back, onZero, 12));
                assertInvalidValue("cuMemsetD32Async", CudaDriver.cuMemsetD32Async(onZero, 0, 3, MemorySegment.NULL));
                assertInvalidValue("cuMemFree_v2", CudaDriver.cuMemFree_v2(onZero));
                MemorySegment params = one.arena.allocate(ADDRESS, 4);
                params.setAtIndex(ADDRESS, 0, one.arena.allocateFrom(JAVA_LONG, 3));
                params.setAtIndex(ADDRESS, 1, one.arena.allocateFrom(JAVA_FLOAT, 1f));
                params.setAtIndex(ADDRESS, 2, one.arena.allocateFrom(JAVA_LONG, onZero));
                params.setAtIndex(ADDRESS, 3, one.arena.allocateFrom(JAVA_LONG, onZero));
                CudaException e = assertThrows(CudaException.class, () -> CudaDriver.check(CudaDriver.cuLaunchKernel(axpy, 1, 1, 1, 32, 1,
                        1, 0, MemorySegment.NULL, params, MemorySegment.NULL), "cuLaunchKernel"));
                assertEquals(CUDA_ERROR_INVALID_HANDLE, e.status(), "a function of cuda:0's module launched in cuda:1's context");
            }
            zero.makeCurrent();
            assertArrayEquals(new float[] {1, 2, 3}, zero.downloadFloats(onZero, 3), "cuda:0's memory, untouched");
        }
    }

    /**
     * Queued work belongs to the context it was queued in: another device's waits neither run it nor accept
     * its streams and events, and a fault in it breaks its own context only, reported by a wait there.
     */
    @Test
    void queuedWorkRunsAndFailsOnlyInItsOwnContext() {
        assumeTrue(configuredDevices() >= 2, "needs TESSERA_CUDA_EMU_DEVICES=2 (set by this module's surefire configuration)");
        try (EmulatorSession zero = new EmulatorSession(0)) {
            MemorySegment stream = zero.stream(); // NON_BLOCKING: not ordered with the faulting launch below
            MemorySegment written = zero.event();
            long x = zero.upload(new float[] {0f});
            CudaDriver.check(CudaDriver.cuMemsetD32Async(x, Float.floatToRawIntBits(2f), 1, stream), "cuMemsetD32Async");
            CudaDriver.check(CudaDriver.cuEventRecord(written, stream), "cuEventRecord");
            CudaDriver.check(zero.launch("ts_axpy_f32", 1, 32, 1L, 1f, x, 0L), "cuLaunchKernel"); // a null pointer, queued
            try (EmulatorSession one = new EmulatorSession(1)) { // now current
                CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize (cuda:1 has no work and no fault)");
                assertEquals(CUDA_ERROR_INVALID_HANDLE, CudaDriver.cuStreamSynchronize(stream), "cuda:0's stream");
                assertEquals(CUDA_ERROR_INVALID_HANDLE, CudaDriver.cuEventSynchronize(written), "cuda:0's event");
                assertEquals(CUDA_ERROR_INVALID_HANDLE, CudaDriver.cuEventRecord(written, MemorySegment.NULL), "cuda:0's event");
                assertEquals(CUDA_ERROR_INVALID_HANDLE, CudaDriver.cuStreamWaitEvent(MemorySegment.NULL, written, 0), "cuda:0's event");
            }
            zero.makeCurrent();
            assertEquals(CudaDriver.CUDA_ERROR_NOT_READY, CudaDriver.cuEventQuery(written), "cuda:1's waits ran none of cuda:0's work");
            MemorySegment host = zero.arena.allocate(JAVA_FLOAT); // pageable: the copy returns when done
            CudaDriver.check(CudaDriver.cuMemcpyDtoHAsync_v2(host, x, 4, stream), "cuMemcpyDtoHAsync_v2");
            assertEquals(2f, host.get(JAVA_FLOAT, 0));
            assertEquals(CUDA_ERROR_ILLEGAL_ADDRESS, CudaDriver.cuCtxSynchronize(), "the fault, reported in cuda:0");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 7, 1023, 100_003})
    void axpyMatchesAFloat64Reference(int n) {
        Random random = new Random(n);
        float a = 1.75f;
        float[] x = randomFloats(random, n);
        float[] y = randomFloats(random, n);
        try (EmulatorSession s = new EmulatorSession()) {
            long dx = s.upload(x);
            long dy = s.upload(y);
            CudaDriver.check(s.launch("ts_axpy_f32", Math.max(1, (n + BLOCK - 1) / BLOCK), BLOCK, (long) n, a, dx, dy), "cuLaunchKernel");
            float[] got = s.downloadFloats(dy, n);
            for (int i = 0; i < n; i++) {
                double expected = (double) a * x[i] + y[i];
                assertEquals(expected, got[i], 1e-6 * (Math.abs(a * x[i]) + Math.abs(y[i])) + 1e-30, "element " + i);
            }
        }
    }

    /**
     * A grid-stride partial pass (fewer blocks than the data needs, so threads loop) and one final block, each
     * through the block reduction of kernels/cuda/block_reduce.cuh (warp shuffles, then the warps' results in
     * shared memory) at every power-of-two block size: below a warp, one warp, and up to 32 warps.
     */
    @ParameterizedTest
    @CsvSource({"0, 256", "1, 256", "7, 256", "1023, 256", "100003, 256", "1023, 1", "1023, 2", "1023, 16", "1023, 32",
        "100003, 1024"})
    void twoPassSumMatchesAFloat64Reference(int n, int block) {
        float[] x = randomFloats(new Random(n + 1), n);
        double expected = 0;
        double magnitude = 0;
        for (float v : x) {
            expected += v;
            magnitude += Math.abs(v);
        }
        int blocks = Math.max(1, Math.min(64, (n + block - 1) / block));
        try (EmulatorSession s = new EmulatorSession()) {
            long dx = s.upload(x);
            long partials = s.alloc(8L * blocks);
            long out = s.alloc(8);
            CudaDriver.check(s.launch("ts_sum_f32_partial", blocks, block, (long) n, dx, partials), "cuLaunchKernel");
            CudaDriver.check(s.launch("ts_sum_f64_final", 1, block, (long) blocks, partials, out), "cuLaunchKernel");
            MemorySegment result = s.arena.allocate(JAVA_DOUBLE);
            CudaDriver.check(CudaDriver.cuMemcpyDtoH_v2(result, out, 8), "cuMemcpyDtoH_v2");
            assertEquals(expected, result.get(JAVA_DOUBLE, 0), 1e-12 * magnitude);
        }
    }

    @Test
    void sgemmAndGemmExMatchAJavaReferenceOnNonSquareShapes() {
        int m = 5;
        int n = 3;
        int k = 7;
        Random random = new Random(3);
        try (EmulatorSession s = new EmulatorSession()) {
            MemorySegment handle = s.cublas();
            MemorySegment alpha = s.arena.allocateFrom(JAVA_FLOAT, 1.5f);
            MemorySegment beta = s.arena.allocateFrom(JAVA_FLOAT, -0.5f);
            for (int transA : new int[] {Cublas.CUBLAS_OP_N, Cublas.CUBLAS_OP_T}) {
                for (int transB : new int[] {Cublas.CUBLAS_OP_N, Cublas.CUBLAS_OP_T}) {
                    // column-major operands with padded leading dimensions
                    int aRows = transA == Cublas.CUBLAS_OP_N ? m : k;
                    int bRows = transB == Cublas.CUBLAS_OP_N ? k : n;
                    int lda = aRows + 2;
                    int ldb = bRows + 1;
                    int ldc = m + 3;
                    float[] a = randomFloats(random, lda * (transA == Cublas.CUBLAS_OP_N ? k : m));
                    float[] b = randomFloats(random, ldb * (transB == Cublas.CUBLAS_OP_N ? n : k));
                    float[] c = randomFloats(random, ldc * n);
                    double[] expected = new double[c.length];
                    for (int i = 0; i < c.length; i++) {
                        expected[i] = c[i];
                    }
                    for (int j = 0; j < n; j++) {
                        for (int i = 0; i < m; i++) {
                            double dot = 0;
                            for (int p = 0; p < k; p++) {
                                double aip = transA == Cublas.CUBLAS_OP_N ? a[i + p * lda] : a[p + i * lda];
                                double bpj = transB == Cublas.CUBLAS_OP_N ? b[p + j * ldb] : b[j + p * ldb];
                                dot += aip * bpj;
                            }
                            expected[i + j * ldc] = 1.5 * dot - 0.5 * c[i + j * ldc];
                        }
                    }
                    long da = s.upload(a);
                    long db = s.upload(b);
                    long dc = s.upload(c);
                    Cublas.check(Cublas.cublasSgemm_v2(handle, transA, transB, m, n, k, alpha, MemorySegment.ofAddress(da), lda,
                            MemorySegment.ofAddress(db), ldb, beta, MemorySegment.ofAddress(dc), ldc), "cublasSgemm_v2");
                    assertClose(expected, s.downloadFloats(dc, c.length), "sgemm " + transA + transB);
                    CudaDriver.check(CudaDriver.cuMemcpyHtoD_v2(dc, s.arena.allocateFrom(JAVA_FLOAT, c), 4L * c.length), "cuMemcpyHtoD_v2");
                    Cublas.check(Cublas.cublasGemmEx(handle, transA, transB, m, n, k, alpha, MemorySegment.ofAddress(da), Cublas.CUDA_R_32F,
                            lda, MemorySegment.ofAddress(db), Cublas.CUDA_R_32F, ldb, beta, MemorySegment.ofAddress(dc), Cublas.CUDA_R_32F,
                            ldc, Cublas.CUBLAS_COMPUTE_32F, Cublas.CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
                    assertClose(expected, s.downloadFloats(dc, c.length), "gemmEx " + transA + transB);
                }
            }
            long half = s.alloc(64);
            CudaException e = assertThrows(CudaException.class, () -> Cublas.check(Cublas.cublasGemmEx(handle, Cublas.CUBLAS_OP_N,
                    Cublas.CUBLAS_OP_N, 2, 2, 2, alpha, MemorySegment.ofAddress(half), Cublas.CUDA_R_16F, 2, MemorySegment.ofAddress(half),
                    Cublas.CUDA_R_16F, 2, beta, MemorySegment.ofAddress(half), Cublas.CUDA_R_16F, 2, Cublas.CUBLAS_COMPUTE_32F,
                    Cublas.CUBLAS_GEMM_DEFAULT), "cublasGemmEx"));
            assertEquals(CUBLAS_STATUS_NOT_SUPPORTED, e.status());
            assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", e.errorName());
        }
    }

    @Test
    void eventsAreReachedWhenTheirStreamHasRunThatFar() {
        try (EmulatorSession s = new EmulatorSession()) {
            MemorySegment start = s.event();
            MemorySegment end = s.event();
            MemorySegment ms = s.arena.allocate(JAVA_FLOAT);
            assertEquals(CUDA_ERROR_INVALID_HANDLE, CudaDriver.cuEventElapsedTime(ms, start, end), "events not yet recorded");
            assertEquals(CudaDriver.CUDA_SUCCESS, CudaDriver.cuEventQuery(end), "an event never recorded is complete");
            long y = s.upload(new float[1000]);
            CudaDriver.check(CudaDriver.cuEventRecord(start, MemorySegment.NULL), "cuEventRecord");
            CudaDriver.check(s.launch("ts_axpy_f32", 4, BLOCK, 1000L, 2f, y, y), "cuLaunchKernel");
            CudaDriver.check(CudaDriver.cuEventRecord(end, MemorySegment.NULL), "cuEventRecord");
            assertEquals(CudaDriver.CUDA_ERROR_NOT_READY, CudaDriver.cuEventElapsedTime(ms, start, end), "nothing waited for the work yet");
            assertEquals(CudaDriver.CUDA_ERROR_NOT_READY, CudaDriver.cuEventQuery(end), "pending until something waits");
            assertEquals(CudaDriver.CUDA_SUCCESS, CudaDriver.cuEventQuery(end), "a query lets the device catch up, so polling ends");
            CudaDriver.check(CudaDriver.cuEventSynchronize(end), "cuEventSynchronize");
            CudaDriver.check(CudaDriver.cuEventElapsedTime(ms, start, end), "cuEventElapsedTime");
            assertTrue(ms.get(JAVA_FLOAT, 0) >= 0f, "elapsed " + ms.get(JAVA_FLOAT, 0));
        }
    }

    /**
     * Streams run deferred: a stream's work runs when something waits for it, and first the work it waits
     * for. So stream B reads what stream A wrote only if it waits for an event A recorded after writing;
     * without the wait it reads the memory as it was, as a race on a GPU may. (A writes 1.5 over zeros; B
     * copies the buffer; the host reads the copy after synchronising B alone.)
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aStreamSeesAnotherStreamsWritesOnlyAfterWaitingForItsEvent(boolean wait) {
        int n = 64;
        try (EmulatorSession s = new EmulatorSession()) {
            MemorySegment a = s.stream();
            MemorySegment b = s.stream();
            MemorySegment written = s.event();
            long x = s.upload(new float[n]);
            long copy = s.alloc(4L * n);
            CudaDriver.check(CudaDriver.cuMemsetD32Async(x, Float.floatToRawIntBits(1.5f), n, a), "cuMemsetD32Async");
            CudaDriver.check(CudaDriver.cuEventRecord(written, a), "cuEventRecord");
            if (wait) {
                CudaDriver.check(CudaDriver.cuStreamWaitEvent(b, written, 0), "cuStreamWaitEvent");
            }
            CudaDriver.check(CudaDriver.cuMemcpyDtoDAsync_v2(copy, x, 4L * n, b), "cuMemcpyDtoDAsync_v2");
            MemorySegment host = s.arena.allocate(JAVA_FLOAT, n); // pageable: the copy returns when done
            CudaDriver.check(CudaDriver.cuMemcpyDtoHAsync_v2(host, copy, 4L * n, b), "cuMemcpyDtoHAsync_v2");
            float[] expected = new float[n];
            Arrays.fill(expected, wait ? 1.5f : 0f);
            assertArrayEquals(expected, host.toArray(JAVA_FLOAT));
        }
    }

    /**
     * The legacy default stream and a blocking stream (flags 0) wait for each other's earlier work; a
     * NON_BLOCKING stream does not wait for the default stream.
     */
    @ParameterizedTest
    @ValueSource(ints = {0, CudaDriver.CU_STREAM_NON_BLOCKING})
    void onlyBlockingStreamsAreOrderedWithTheDefaultStream(int flags) {
        try (EmulatorSession s = new EmulatorSession()) {
            MemorySegment stream = s.stream(flags);
            long x = s.upload(new float[] {0f});
            CudaDriver.check(CudaDriver.cuMemsetD32Async(x, Float.floatToRawIntBits(2f), 1, MemorySegment.NULL), "cuMemsetD32Async");
            MemorySegment host = s.arena.allocate(JAVA_FLOAT);
            CudaDriver.check(CudaDriver.cuMemcpyDtoHAsync_v2(host, x, 4, stream), "cuMemcpyDtoHAsync_v2");
            assertEquals(flags == 0 ? 2f : 0f, host.get(JAVA_FLOAT, 0));
        }
    }

    /** Page-locked host memory is read and written when the copy runs, pageable memory at the call. */
    @Test
    void asynchronousCopiesUsePageLockedMemoryWhenTheyRun() {
        try (EmulatorSession s = new EmulatorSession()) {
            MemorySegment stream = s.stream();
            long x = s.upload(new float[] {0f});
            MemorySegment out = s.arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuMemAllocHost_v2(out, 4), "cuMemAllocHost_v2");
            MemorySegment pinned = out.get(ADDRESS, 0).reinterpret(4);
            try {
                pinned.set(JAVA_FLOAT, 0, 3f);
                CudaDriver.check(CudaDriver.cuMemcpyHtoDAsync_v2(x, pinned, 4, stream), "cuMemcpyHtoDAsync_v2");
                pinned.set(JAVA_FLOAT, 0, 4f); // before the copy ran: it copies 4
                MemorySegment pageable = s.arena.allocateFrom(JAVA_FLOAT, 5f);
                long y = s.alloc(4);
                CudaDriver.check(CudaDriver.cuMemcpyHtoDAsync_v2(y, pageable, 4, stream), "cuMemcpyHtoDAsync_v2");
                pageable.set(JAVA_FLOAT, 0, 6f); // staged at the call: it copies 5
                CudaDriver.check(CudaDriver.cuMemcpyDtoHAsync_v2(pinned, y, 4, stream), "cuMemcpyDtoHAsync_v2");
                assertEquals(4f, pinned.get(JAVA_FLOAT, 0), "not copied back until the stream runs");
                CudaDriver.check(CudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
                assertEquals(5f, pinned.get(JAVA_FLOAT, 0));
                assertArrayEquals(new float[] {4f}, s.downloadFloats(x, 1));
            } finally {
                CudaDriver.check(CudaDriver.cuMemFreeHost(pinned), "cuMemFreeHost");
            }
        }
    }

    @Test
    void anUnknownKernelIsNotFound() {
        try (EmulatorSession s = new EmulatorSession()) {
            MemorySegment function = s.arena.allocate(ADDRESS);
            assertEquals(CUDA_ERROR_NOT_FOUND,
                    CudaDriver.cuModuleGetFunction(function, s.module, s.arena.allocateFrom("ts_no_such_kernel")));
        }
    }

    /**
     * A kernel that writes one element past its buffer (kernels/cuda-test/planted_oob.cu) is reported as
     * CUDA_ERROR_ILLEGAL_ADDRESS by the wait for it, and the context stays broken, as on a GPU. With 1024 floats the buffer
     * ends exactly at its guard page, so the write faults; with 7, it lands in the alignment slack before
     * the guard page and the canary check after the launch catches it.
     */
    @ParameterizedTest
    @ValueSource(ints = {1024, 7})
    void aWritePastTheEndIsAnIllegalAddress(int n) {
        try (EmulatorSession s = new EmulatorSession()) {
            long x = s.upload(new float[n]);
            long y = s.upload(new float[n]);
            CudaDriver.check(s.launch("ts_axpy_f32", 1, BLOCK, (long) n, 1f, x, y), "cuLaunchKernel"); // a correct kernel first
            CudaDriver.check(s.launch("ts_test_fill_planted_oob_f32", 1, BLOCK, (long) n, 3f, y), "cuLaunchKernel"); // queued

            CudaException e = assertThrows(CudaException.class,
                    () -> CudaDriver.check(CudaDriver.cuStreamSynchronize(MemorySegment.NULL), "cuStreamSynchronize"));
            assertEquals(CUDA_ERROR_ILLEGAL_ADDRESS, e.status());
            assertEquals("CUDA_ERROR_ILLEGAL_ADDRESS", e.errorName());
            assertEquals("cuStreamSynchronize", e.call());
            assertEquals(CUDA_ERROR_ILLEGAL_ADDRESS, CudaDriver.cuCtxSynchronize(), "sticky");
            assertEquals(CUDA_ERROR_ILLEGAL_ADDRESS, CudaDriver.cuMemAlloc_v2(s.arena.allocate(JAVA_LONG), 4), "sticky");
        }
        try (EmulatorSession s = new EmulatorSession()) { // the last release destroyed the broken context; a new one works
            long y = s.upload(new float[] {1f});
            CudaDriver.check(s.launch("ts_axpy_f32", 1, 32, 1L, 1f, y, y), "cuLaunchKernel");
            assertArrayEquals(new float[] {2f}, s.downloadFloats(y, 1));
        }
    }

    /**
     * Dynamic shared memory (kernels/cuda-test/reverse_block.cu): each block reverses its slice through it,
     * reading what its other threads wrote before __syncthreads. It is as large as the launch asks, no larger.
     */
    @Test
    void dynamicSharedMemoryIsSharedByABlockAndSizedByTheLaunch() {
        int block = 96;
        int blocks = 3;
        float[] x = randomFloats(new Random(5), block * blocks);
        try (EmulatorSession s = new EmulatorSession()) {
            long dx = s.upload(x);
            long dy = s.upload(new float[x.length]);
            CudaDriver.check(s.launchShared("ts_test_reverse_block_f32", blocks, block, 4 * block, dx, dy), "cuLaunchKernel");
            float[] y = s.downloadFloats(dy, x.length);
            for (int i = 0; i < x.length; i++) {
                int start = i / block * block;
                assertEquals(x[start + block - 1 - (i - start)], y[i], "element " + i);
            }
            CudaDriver.check(s.launchShared("ts_test_reverse_block_f32", blocks, block, 4 * (block - 4), dx, dy), "cuLaunchKernel");
            assertEquals(CUDA_ERROR_ILLEGAL_ADDRESS, CudaDriver.cuCtxSynchronize());
        }
    }

    /** Any fault in a kernel, here a null pointer, ends the launch, not the JVM. */
    @Test
    void aNullPointerInAKernelIsAnIllegalAddress() {
        try (EmulatorSession s = new EmulatorSession()) {
            long x = s.upload(new float[4]);
            CudaDriver.check(s.launch("ts_axpy_f32", 1, 32, 4L, 1f, x, 0L), "cuLaunchKernel");
            assertEquals(CUDA_ERROR_ILLEGAL_ADDRESS, CudaDriver.cuCtxSynchronize());
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static void assertInvalidValue(String call, int status) {
        CudaException e = assertThrows(CudaException.class, () -> CudaDriver.check(status, call));
        assertEquals(CUDA_ERROR_INVALID_VALUE, e.status());
        assertEquals("CUDA_ERROR_INVALID_VALUE", e.errorName());
        assertTrue(e.getMessage().startsWith(call + " failed: CUDA_ERROR_INVALID_VALUE"), e.getMessage());
    }

    private static void assertClose(double[] expected, float[] actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-5 * (1 + Math.abs(expected[i])), what + ", element " + i);
        }
    }

    private static float[] randomFloats(Random random, int n) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return values;
    }
}
