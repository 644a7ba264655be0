package io.tessera.ffi;

import static io.tessera.ffi.CudaDriverTest.assertEveryBindingThrowsUnavailable;
import static io.tessera.ffi.CudaDriverTest.assertHandlesMatchMethods;
import static io.tessera.ffi.CudaDriverTest.assertHoldersBindTheirOwnSymbol;
import static io.tessera.ffi.CudaDriverTest.bindingMethodNames;
import static io.tessera.ffi.CudaDriverTest.boundFunctions;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class CublasLtTest {
    private static final Path ARGS = Path.of("jextract/cublaslt.args");
    private static final String NAME = "cuBLASLt (libcublasLt.so.13 or libcublasLt.so.12)";
    private static final String CONFIGURED = "-Dtessera.cublaslt is set: the surefire execution without it covers this";
    private static final String NO_CUBLASLT = "cuBLASLt is installed here; this test covers machines without it";

    @Test
    void createWithoutCublasLtNamesEveryPlaceTried() {
        assumeTrue(System.getProperty("tessera.cublaslt") == null, CONFIGURED);
        assumeFalse(CublasLt.LIBRARY.isAvailable(), NO_CUBLASLT);
        NativeLibraryUnavailableException e = assertThrows(NativeLibraryUnavailableException.class,
                () -> CublasLt.cublasLtCreate(MemorySegment.NULL));
        String message = e.getMessage();
        assertTrue(message.startsWith(NAME + " is not available"), message);
        assertTrue(message.contains("system library path, name libcublasLt.so.13:"), message);
        assertTrue(message.contains("/usr/local/cuda/lib64/libcublasLt.so.12"), message);
        assertEquals(4, e.attempts().size(), message);
    }

    @Test
    void everyBindingThrowsUnavailableWithoutCublasLt() throws IOException {
        assumeTrue(System.getProperty("tessera.cublaslt") == null, CONFIGURED);
        assumeFalse(CublasLt.LIBRARY.isAvailable(), NO_CUBLASLT);
        assertEveryBindingThrowsUnavailable(CublasLt.class, ARGS);
    }

    @Test
    void checkWithoutCublasLtStillExplainsTheStatus() {
        assumeTrue(System.getProperty("tessera.cublaslt") == null, CONFIGURED);
        assumeFalse(CublasLt.LIBRARY.isAvailable(), NO_CUBLASLT);
        CudaException e = assertThrows(CudaException.class, () -> CublasLt.check(15, "cublasLtMatmul"));
        assertEquals("cublasLtMatmul failed: cublasStatus 15 (error name unavailable: " + NAME + " is not loaded)", e.getMessage());
        assertEquals(CudaException.Library.CUBLASLT, e.library());
    }

    @Test
    void argsFileListsExactlyTheBindings() throws IOException {
        assertEquals(new TreeSet<>(boundFunctions(ARGS)), bindingMethodNames(CublasLt.class));
    }

    @Test
    void handlesHaveTheTypesOfTheirMethods() throws IOException, ReflectiveOperationException {
        assertHandlesMatchMethods(CublasLt.class, ARGS);
    }

    @Test
    void holdersBindTheirOwnSymbol() throws IOException {
        assertHoldersBindTheirOwnSymbol(Path.of("src/main/java/io/tessera/ffi/CublasLt.java"), ARGS);
    }

    @Test
    void checkNamesStatusesThroughCublasLt() {
        assumeTrue(CublasLt.LIBRARY.isAvailable(), "no cuBLASLt on this machine");
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", CublasLt.errorName(15));
        assertTrue(CublasLt.cublasLtGetVersion() >= 120000, "cuBLASLt version " + CublasLt.cublasLtGetVersion());
    }

    /**
     * Column-major int8 D [m, n] = A^T B with A [k, m] and B [k, n] stored (the TN form IMMA needs), m, n and k
     * awkward but multiples of 4 where IMMA wants them, against exact int arithmetic.
     */
    @Test
    void multipliesInt8ToInt32OnADevice() {
        int m = 12;
        int n = 7;
        int k = 20;
        Random random = new Random(16);
        byte[] a = randomBytes(random, k * m);
        byte[] b = randomBytes(random, k * n);
        int[] expected = new int[m * n];
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                for (int t = 0; t < k; t++) {
                    expected[i + j * m] += a[t + i * k] * b[t + j * k];
                }
            }
        }
        onDevice((arena, handle) -> {
            long da = upload(arena, JAVA_BYTE, MemorySegment.ofArray(a));
            long db = upload(arena, JAVA_BYTE, MemorySegment.ofArray(b));
            long dd = upload(arena, JAVA_INT, MemorySegment.ofArray(new int[m * n]));
            matmul(arena, handle, Cublas.CUBLAS_COMPUTE_32I, Cublas.CUDA_R_32I, Cublas.CUBLAS_OP_T,
                    layout(arena, Cublas.CUDA_R_8I, k, m, k), da, layout(arena, Cublas.CUDA_R_8I, k, n, k), db,
                    layout(arena, Cublas.CUDA_R_32I, m, n, m), dd, arena.allocateFrom(JAVA_INT, 1), arena.allocateFrom(JAVA_INT, 0));
            assertArrayEquals(expected, download(arena, dd, JAVA_INT, m * n).toArray(JAVA_INT));
            free(da, db, dd);
        });
    }

    /** BF16 D [m, n] = A B (A [m, k], B [k, n] column-major), summed in float32, against a float64 reference. */
    @Test
    void multipliesBf16WithFloatAccumulationOnADevice() {
        int m = 5;
        int n = 3;
        int k = 17;
        Random random = new Random(61);
        short[] a = new short[m * k];
        short[] b = new short[k * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = bf16((float) random.nextGaussian());
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = bf16((float) random.nextGaussian());
        }
        onDevice((arena, handle) -> {
            long da = upload(arena, JAVA_SHORT, MemorySegment.ofArray(a));
            long db = upload(arena, JAVA_SHORT, MemorySegment.ofArray(b));
            long dd = upload(arena, JAVA_SHORT, MemorySegment.ofArray(new short[m * n]));
            matmul(arena, handle, Cublas.CUBLAS_COMPUTE_32F, Cublas.CUDA_R_32F, Cublas.CUBLAS_OP_N,
                    layout(arena, Cublas.CUDA_R_16BF, m, k, m), da, layout(arena, Cublas.CUDA_R_16BF, k, n, k), db,
                    layout(arena, Cublas.CUDA_R_16BF, m, n, m), dd, arena.allocateFrom(JAVA_FLOAT, 1f),
                    arena.allocateFrom(JAVA_FLOAT, 0f));
            short[] d = download(arena, dd, JAVA_SHORT, m * n).toArray(JAVA_SHORT);
            for (int j = 0; j < n; j++) {
                for (int i = 0; i < m; i++) {
                    double sum = 0;
                    double magnitude = 0;
                    for (int t = 0; t < k; t++) {
                        double product = (double) fromBf16(a[i + t * m]) * fromBf16(b[t + j * k]);
                        sum += product;
                        magnitude += Math.abs(product);
                    }
                    // one rounding to BF16 (8 bits) plus float32 summation error
                    double tolerance = Math.abs(sum) * 0x1p-8 + magnitude * k * 0x1p-24;
                    assertEquals(sum, fromBf16(d[i + j * m]), tolerance, "d[" + i + ", " + j + "]");
                }
            }
            free(da, db, dd);
        });
    }

    private interface DeviceWork {
        void run(Arena arena, MemorySegment handle);
    }

    private static void onDevice(DeviceWork work) {
        assumeTrue(CublasLt.LIBRARY.isAvailable(), "no cuBLASLt on this machine");
        try (Arena arena = Arena.ofConfined()) {
            int device = CudaDriverTest.firstDevice(arena);
            MemorySegment ctx = arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRetain(ctx, device), "cuDevicePrimaryCtxRetain");
            try {
                CudaDriver.check(CudaDriver.cuCtxSetCurrent(ctx.get(ADDRESS, 0)), "cuCtxSetCurrent");
                MemorySegment out = arena.allocate(ADDRESS);
                CublasLt.check(CublasLt.cublasLtCreate(out), "cublasLtCreate");
                MemorySegment handle = out.get(ADDRESS, 0);
                try {
                    work.run(arena, handle);
                } finally {
                    CublasLt.check(CublasLt.cublasLtDestroy(handle), "cublasLtDestroy");
                }
            } finally {
                CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRelease_v2(device), "cuDevicePrimaryCtxRelease_v2");
            }
        }
    }

    /** D = alpha op(A) B + beta D on the default stream, with transa as given and B not transposed. */
    private static void matmul(Arena arena, MemorySegment handle, int compute, int scale, int transa, MemorySegment aLayout, long a,
                               MemorySegment bLayout, long b, MemorySegment dLayout, long d, MemorySegment alpha, MemorySegment beta) {
        MemorySegment out = arena.allocate(ADDRESS);
        CublasLt.check(CublasLt.cublasLtMatmulDescCreate(out, compute, scale), "cublasLtMatmulDescCreate");
        MemorySegment desc = out.get(ADDRESS, 0);
        CublasLt.check(CublasLt.cublasLtMatmulDescSetAttribute(desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSA,
                arena.allocateFrom(JAVA_INT, transa), Integer.BYTES), "cublasLtMatmulDescSetAttribute");
        CublasLt.check(CublasLt.cublasLtMatmulDescSetAttribute(desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSB,
                arena.allocateFrom(JAVA_INT, Cublas.CUBLAS_OP_N), Integer.BYTES), "cublasLtMatmulDescSetAttribute");
        MemorySegment dAt = MemorySegment.ofAddress(d);
        CublasLt.check(CublasLt.cublasLtMatmul(handle, desc, alpha, MemorySegment.ofAddress(a), aLayout, MemorySegment.ofAddress(b),
                bLayout, beta, dAt, dLayout, dAt, dLayout, MemorySegment.NULL, MemorySegment.NULL, 0, MemorySegment.NULL),
                "cublasLtMatmul");
        CublasLt.check(CublasLt.cublasLtMatmulDescDestroy(desc), "cublasLtMatmulDescDestroy");
        for (MemorySegment layout : new MemorySegment[] {aLayout, bLayout, dLayout}) {
            CublasLt.check(CublasLt.cublasLtMatrixLayoutDestroy(layout), "cublasLtMatrixLayoutDestroy");
        }
    }

    private static MemorySegment layout(Arena arena, int type, long rows, long cols, long ld) {
        MemorySegment out = arena.allocate(ADDRESS);
        CublasLt.check(CublasLt.cublasLtMatrixLayoutCreate(out, type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        return out.get(ADDRESS, 0);
    }

    private static long upload(Arena arena, ValueLayout element, MemorySegment values) {
        MemorySegment dptr = arena.allocate(JAVA_LONG);
        long bytes = values.byteSize();
        CudaDriver.check(CudaDriver.cuMemAlloc_v2(dptr, bytes), "cuMemAlloc_v2");
        long device = dptr.get(JAVA_LONG, 0);
        MemorySegment host = arena.allocate(element, bytes / element.byteSize());
        host.copyFrom(values);
        CudaDriver.check(CudaDriver.cuMemcpyHtoD_v2(device, host, bytes), "cuMemcpyHtoD_v2");
        return device;
    }

    /** Waits for the context's work (cuBLASLt runs asynchronously), then copies back. */
    private static MemorySegment download(Arena arena, long device, ValueLayout element, int count) {
        CudaDriver.check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
        MemorySegment host = arena.allocate(element, count);
        CudaDriver.check(CudaDriver.cuMemcpyDtoH_v2(host, device, host.byteSize()), "cuMemcpyDtoH_v2");
        return host;
    }

    private static void free(long... buffers) {
        for (long buffer : buffers) {
            CudaDriver.check(CudaDriver.cuMemFree_v2(buffer), "cuMemFree_v2");
        }
    }

    private static byte[] randomBytes(Random random, int count) {
        byte[] values = new byte[count];
        for (int i = 0; i < count; i++) {
            values[i] = (byte) (random.nextInt(255) - 127);
        }
        return values;
    }

    /** Round to nearest even, as CUDA's __float2bfloat16 (the inputs here are finite). */
    private static short bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    private static float fromBf16(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }
}
