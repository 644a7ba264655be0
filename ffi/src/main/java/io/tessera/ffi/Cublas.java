package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.List;

/**
 * Bindings to cuBLAS (libcublas.so.13, else .12). Symbols are listed in ffi/jextract/cublas.args; the
 * {@code _v2} symbols are the ones cublas_v2.h maps the plain names to. cuBLAS is column-major. The
 * calls run on the stream set with {@link #cublasSetStream_v2} in the caller's current CUDA context.
 * Every function but the status-name lookups returns a raw {@code cublasStatus_t}; {@link #check} turns
 * it into a {@link CudaException}.
 */
public final class Cublas {
    private Cublas() {}

    // cublasStatus_t
    public static final int CUBLAS_STATUS_SUCCESS = 0;

    // cublasOperation_t
    public static final int CUBLAS_OP_N = 0;
    public static final int CUBLAS_OP_T = 1;

    // cudaDataType (library_types.h)
    public static final int CUDA_R_32F = 0;
    public static final int CUDA_R_16F = 2;
    public static final int CUDA_R_8I = 3;
    public static final int CUDA_R_32I = 10;
    public static final int CUDA_R_16BF = 14;

    // cublasComputeType_t
    public static final int CUBLAS_COMPUTE_32F = 68;
    public static final int CUBLAS_COMPUTE_32I = 72;
    public static final int CUBLAS_COMPUTE_32F_FAST_TF32 = 77;

    // cublasGemmAlgo_t
    public static final int CUBLAS_GEMM_DEFAULT = -1;

    // cublasMath_t
    public static final int CUBLAS_DEFAULT_MATH = 0;
    public static final int CUBLAS_TF32_TENSOR_OP_MATH = 3;

    // Versioned names only: the unversioned libcublas.so belongs to the toolkit's development files.
    public static final NativeLibrary LIBRARY = NativeLibrary.of("cuBLAS (libcublas.so.13 or libcublas.so.12)", List.of(
            new NativeLibrary.Location.Configured("tessera.cublas"),
            new NativeLibrary.Location.SystemName("libcublas.so.13"),
            new NativeLibrary.Location.SystemName("libcublas.so.12"),
            new NativeLibrary.Location.SystemFile(Path.of("/usr/local/cuda/lib64/libcublas.so.13")),
            new NativeLibrary.Location.SystemFile(Path.of("/usr/local/cuda/lib64/libcublas.so.12"))));

    private static final CublasStatus STATUS = new CublasStatus(LIBRARY, CudaException.Library.CUBLAS, "cublasGetStatusName",
            Cublas::cublasGetStatusName, Cublas::cublasGetStatusString);

    /**
     * Throws a {@link CudaException} unless {@code status} is {@link #CUBLAS_STATUS_SUCCESS}. Its message names
     * the call, cuBLAS's name for the status and its description (cublasGetStatusName, cublasGetStatusString).
     */
    public static void check(int status, String call) {
        STATUS.check(status, call);
    }

    /** cuBLAS's name for a status (e.g. "CUBLAS_STATUS_INVALID_VALUE"), or "cublasStatus n" if it cannot say. */
    public static String errorName(int status) {
        return STATUS.errorName(status);
    }

    private static final class cublasCreate_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** cublasStatus_t cublasCreate_v2(cublasHandle_t *handle): for the device of the current context. */
    public static int cublasCreate_v2(MemorySegment handle) {
        try {
            return (int) cublasCreate_v2.HANDLE.invokeExact(handle);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasDestroy_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** cublasStatus_t cublasDestroy_v2(cublasHandle_t handle): synchronizes the device first. */
    public static int cublasDestroy_v2(MemorySegment handle) {
        try {
            return (int) cublasDestroy_v2.HANDLE.invokeExact(handle);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasGetVersion_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasGetVersion_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    /** cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version): major*10000 + minor*100 + patch. */
    public static int cublasGetVersion_v2(MemorySegment handle, MemorySegment version) {
        try {
            return (int) cublasGetVersion_v2.HANDLE.invokeExact(handle, version);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasSetStream_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasSetStream_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    /** cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId): a CUstream works as is. */
    public static int cublasSetStream_v2(MemorySegment handle, MemorySegment streamId) {
        try {
            return (int) cublasSetStream_v2.HANDLE.invokeExact(handle, streamId);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasSetMathMode {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasSetMathMode",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }

    /** cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) */
    public static int cublasSetMathMode(MemorySegment handle, int mode) {
        try {
            return (int) cublasSetMathMode.HANDLE.invokeExact(handle, mode);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasSgemm_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasSgemm_v2", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT));
    }

    /**
     * cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
     * int m, int n, int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
     * const float *beta, float *C, int ldc): C = alpha op(A) op(B) + beta C, column-major. alpha and beta
     * are passed by pointer, to host memory in the default pointer mode.
     */
    public static int cublasSgemm_v2(MemorySegment handle, int transa, int transb, int m, int n, int k,
                                     MemorySegment alpha, MemorySegment a, int lda, MemorySegment b, int ldb,
                                     MemorySegment beta, MemorySegment c, int ldc) {
        try {
            return (int) cublasSgemm_v2.HANDLE.invokeExact(handle, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasGemmEx {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasGemmEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    }

    /**
     * cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
     * int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
     * cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
     * cublasComputeType_t computeType, cublasGemmAlgo_t algo): as {@link #cublasSgemm_v2} with typed
     * operands; alpha and beta point to values of the compute type's scalar type (float for the 32F ones).
     */
    public static int cublasGemmEx(MemorySegment handle, int transa, int transb, int m, int n, int k,
                                   MemorySegment alpha, MemorySegment a, int aType, int lda,
                                   MemorySegment b, int bType, int ldb, MemorySegment beta,
                                   MemorySegment c, int cType, int ldc, int computeType, int algo) {
        try {
            return (int) cublasGemmEx.HANDLE.invokeExact(handle, transa, transb, m, n, k, alpha, a, aType, lda,
                    b, bType, ldb, beta, c, cType, ldc, computeType, algo);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasGetStatusName {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasGetStatusName", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    /** const char *cublasGetStatusName(cublasStatus_t status): a static string such as "CUBLAS_STATUS_INVALID_VALUE". */
    public static MemorySegment cublasGetStatusName(int status) {
        try {
            return (MemorySegment) cublasGetStatusName.HANDLE.invokeExact(status);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasGetStatusString {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasGetStatusString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    /** const char *cublasGetStatusString(cublasStatus_t status): a static description of the status. */
    public static MemorySegment cublasGetStatusString(int status) {
        try {
            return (MemorySegment) cublasGetStatusString.HANDLE.invokeExact(status);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
