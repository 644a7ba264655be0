package io.tessera.ffi;

import static io.tessera.ffi.CudaDriverTest.assertEveryBindingThrowsUnavailable;
import static io.tessera.ffi.CudaDriverTest.assertHandlesMatchMethods;
import static io.tessera.ffi.CudaDriverTest.assertHoldersBindTheirOwnSymbol;
import static io.tessera.ffi.CudaDriverTest.bindingMethodNames;
import static io.tessera.ffi.CudaDriverTest.boundFunctions;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class CublasTest {
    private static final Path ARGS = Path.of("jextract/cublas.args");
    private static final String NAME = "cuBLAS (libcublas.so.13 or libcublas.so.12)";
    private static final String CONFIGURED = "-Dtessera.cublas is set: the surefire execution without it covers this";
    private static final String NO_CUBLAS = "cuBLAS is installed here; this test covers machines without it";

    @Test
    void cublasCreateWithoutCublasNamesEveryPlaceTried() {
        assumeTrue(System.getProperty("tessera.cublas") == null, CONFIGURED);
        assumeFalse(Cublas.LIBRARY.isAvailable(), NO_CUBLAS);
        for (int attempt = 0; attempt < 2; attempt++) { // the second call must not hit a failed class initialiser
            NativeLibraryUnavailableException e = assertThrows(NativeLibraryUnavailableException.class,
                    () -> Cublas.cublasCreate_v2(MemorySegment.NULL));
            String message = e.getMessage();
            assertTrue(message.startsWith(NAME + " is not available"), message);
            assertTrue(message.contains("system library path, name libcublas.so.13:"), message);
            assertTrue(message.contains("system library path, name libcublas.so.12:"), message);
            assertTrue(message.contains("/usr/local/cuda/lib64/libcublas.so.13"), message);
            assertTrue(message.contains("/usr/local/cuda/lib64/libcublas.so.12"), message);
            assertEquals(4, e.attempts().size(), message);
        }
    }

    @Test
    void everyBindingThrowsUnavailableWithoutCublas() throws IOException {
        assumeTrue(System.getProperty("tessera.cublas") == null, CONFIGURED);
        assumeFalse(Cublas.LIBRARY.isAvailable(), NO_CUBLAS);
        assertEveryBindingThrowsUnavailable(Cublas.class, ARGS);
    }

    @Test
    void checkWithoutCublasStillExplainsTheStatus() {
        assumeTrue(System.getProperty("tessera.cublas") == null, CONFIGURED);
        assumeFalse(Cublas.LIBRARY.isAvailable(), NO_CUBLAS);
        assertDoesNotThrow(() -> Cublas.check(Cublas.CUBLAS_STATUS_SUCCESS, "cublasCreate_v2"));
        CudaException e = assertThrows(CudaException.class, () -> Cublas.check(7, "cublasSgemm_v2"));
        assertEquals("cublasSgemm_v2 failed: cublasStatus 7 (error name unavailable: " + NAME + " is not loaded)", e.getMessage());
        assertEquals(CudaException.Library.CUBLAS, e.library());
        assertEquals(7, e.status());
        assertEquals("cublasStatus 7", e.errorName());
        assertEquals("cublasSgemm_v2", e.call());
        assertEquals("cublasStatus 3", Cublas.errorName(3));
    }

    @Test
    void argsFileListsExactlyTheBindings() throws IOException {
        assertEquals(new TreeSet<>(boundFunctions(ARGS)), bindingMethodNames(Cublas.class));
    }

    @Test
    void handlesHaveTheTypesOfTheirMethods() throws IOException, ReflectiveOperationException {
        assertHandlesMatchMethods(Cublas.class, ARGS);
    }

    @Test
    void holdersBindTheirOwnSymbol() throws IOException {
        assertHoldersBindTheirOwnSymbol(Path.of("src/main/java/io/tessera/ffi/Cublas.java"), ARGS);
    }

    @Test
    void checkNamesStatusesThroughCublas() {
        assumeTrue(Cublas.LIBRARY.isAvailable(), "no cuBLAS on this machine");
        assertEquals("CUBLAS_STATUS_INVALID_VALUE", Cublas.errorName(7));
        CudaException e = assertThrows(CudaException.class, () -> Cublas.check(7, "cublasSgemm_v2"));
        assertTrue(e.getMessage().startsWith("cublasSgemm_v2 failed: CUBLAS_STATUS_INVALID_VALUE (cublasStatus 7)"), e.getMessage());
    }

    /** A 2x3 by 3x2 product, column-major, through cublasSgemm_v2 and cublasGemmEx. */
    @Test
    void multipliesOnADevice() {
        assumeTrue(Cublas.LIBRARY.isAvailable(), "no cuBLAS on this machine");
        try (Arena arena = Arena.ofConfined()) {
            int device = CudaDriverTest.firstDevice(arena);
            MemorySegment ctx = arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRetain(ctx, device), "cuDevicePrimaryCtxRetain");
            try {
                CudaDriver.check(CudaDriver.cuCtxSetCurrent(ctx.get(ADDRESS, 0)), "cuCtxSetCurrent");
                long a = upload(arena, 1, 2, 3, 4, 5, 6);
                long b = upload(arena, 7, 8, 9, 10, 11, 12);
                long c = upload(arena, 0, 0, 0, 0);
                MemorySegment handleOut = arena.allocate(ADDRESS);
                Cublas.check(Cublas.cublasCreate_v2(handleOut), "cublasCreate_v2");
                MemorySegment handle = handleOut.get(ADDRESS, 0);
                try {
                    MemorySegment version = arena.allocate(JAVA_INT);
                    Cublas.check(Cublas.cublasGetVersion_v2(handle, version), "cublasGetVersion_v2");
                    assertTrue(version.get(JAVA_INT, 0) >= 120000, "cuBLAS version " + version.get(JAVA_INT, 0));
                    Cublas.check(Cublas.cublasSetStream_v2(handle, MemorySegment.NULL), "cublasSetStream_v2");
                    Cublas.check(Cublas.cublasSetMathMode(handle, Cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
                    MemorySegment alpha = arena.allocateFrom(JAVA_FLOAT, 1f);
                    MemorySegment beta = arena.allocateFrom(JAVA_FLOAT, 0f);
                    float[] expected = {76, 100, 103, 136};

                    Cublas.check(Cublas.cublasSgemm_v2(handle, Cublas.CUBLAS_OP_N, Cublas.CUBLAS_OP_N, 2, 2, 3,
                            alpha, MemorySegment.ofAddress(a), 2, MemorySegment.ofAddress(b), 3, beta, MemorySegment.ofAddress(c), 2),
                            "cublasSgemm_v2");
                    assertArrayEquals(expected, download(arena, c, 4));

                    CudaDriver.check(CudaDriver.cuMemsetD32Async(c, 0, 4, MemorySegment.NULL), "cuMemsetD32Async");
                    Cublas.check(Cublas.cublasGemmEx(handle, Cublas.CUBLAS_OP_N, Cublas.CUBLAS_OP_N, 2, 2, 3,
                            alpha, MemorySegment.ofAddress(a), Cublas.CUDA_R_32F, 2, MemorySegment.ofAddress(b), Cublas.CUDA_R_32F, 3,
                            beta, MemorySegment.ofAddress(c), Cublas.CUDA_R_32F, 2, Cublas.CUBLAS_COMPUTE_32F, Cublas.CUBLAS_GEMM_DEFAULT),
                            "cublasGemmEx");
                    assertArrayEquals(expected, download(arena, c, 4));
                } finally {
                    Cublas.check(Cublas.cublasDestroy_v2(handle), "cublasDestroy_v2");
                    for (long buffer : new long[] {a, b, c}) {
                        CudaDriver.check(CudaDriver.cuMemFree_v2(buffer), "cuMemFree_v2");
                    }
                }
            } finally {
                CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRelease_v2(device), "cuDevicePrimaryCtxRelease_v2");
            }
        }
    }

    private static long upload(Arena arena, float... values) {
        MemorySegment dptr = arena.allocate(JAVA_LONG);
        CudaDriver.check(CudaDriver.cuMemAlloc_v2(dptr, 4L * values.length), "cuMemAlloc_v2");
        long device = dptr.get(JAVA_LONG, 0);
        CudaDriver.check(CudaDriver.cuMemcpyHtoD_v2(device, arena.allocateFrom(JAVA_FLOAT, values), 4L * values.length), "cuMemcpyHtoD_v2");
        return device;
    }

    /** Waits for the context's work (cuBLAS runs asynchronously), then copies back. */
    private static float[] download(Arena arena, long device, int count) {
        CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
        MemorySegment host = arena.allocate(JAVA_FLOAT, count);
        CudaDriver.check(CudaDriver.cuMemcpyDtoH_v2(host, device, 4L * count), "cuMemcpyDtoH_v2");
        return host.toArray(JAVA_FLOAT);
    }
}
