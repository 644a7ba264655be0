package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.List;

/**
 * Bindings to cuBLASLt (libcublasLt.so.13, else .12), the matmul library with typed layouts: int8 x int8 to
 * int32 and BF16 / F16 with float32 accumulation. Symbols are listed in ffi/jextract/cublaslt.args. Column-major;
 * the data types (CUDA_R_*) and compute types (CUBLAS_COMPUTE_*) are cuBLAS's ({@link Cublas}). Every function
 * but the version and status-name lookups returns a raw {@code cublasStatus_t}; {@link #check} turns it into a
 * {@link CudaException}. Probed on first use like every binding here: a machine without cuBLASLt loads this class.
 */
public final class CublasLt {
    private CublasLt() {}

    // cublasLtMatmulDescAttributes_t (each takes an int32_t value)
    public static final int CUBLASLT_MATMUL_DESC_TRANSA = 3;
    public static final int CUBLASLT_MATMUL_DESC_TRANSB = 4;

    // Versioned names only: the unversioned libcublasLt.so belongs to the toolkit's development files.
    public static final NativeLibrary LIBRARY = NativeLibrary.of("cuBLASLt (libcublasLt.so.13 or libcublasLt.so.12)", List.of(
            new NativeLibrary.Location.Configured("tessera.cublaslt"),
            new NativeLibrary.Location.SystemName("libcublasLt.so.13"),
            new NativeLibrary.Location.SystemName("libcublasLt.so.12"),
            new NativeLibrary.Location.SystemFile(Path.of("/usr/local/cuda/lib64/libcublasLt.so.13")),
            new NativeLibrary.Location.SystemFile(Path.of("/usr/local/cuda/lib64/libcublasLt.so.12"))));

    private static final CublasStatus STATUS = new CublasStatus(LIBRARY, CudaException.Library.CUBLASLT, "cublasLtGetStatusName",
            CublasLt::cublasLtGetStatusName, CublasLt::cublasLtGetStatusString);

    /**
     * Throws a {@link CudaException} unless {@code status} is {@link Cublas#CUBLAS_STATUS_SUCCESS}. Its message names
     * the call, cuBLASLt's name for the status and its description (cublasLtGetStatusName, cublasLtGetStatusString).
     */
    public static void check(int status, String call) {
        STATUS.check(status, call);
    }

    /** cuBLASLt's name for a status (e.g. "CUBLAS_STATUS_NOT_SUPPORTED"), or "cublasStatus n" if it cannot say. */
    public static String errorName(int status) {
        return STATUS.errorName(status);
    }

    private static final class cublasLtCreate {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** cublasStatus_t cublasLtCreate(cublasLtHandle_t *lightHandle): for the device of the current context. */
    public static int cublasLtCreate(MemorySegment lightHandle) {
        try {
            return (int) cublasLtCreate.HANDLE.invokeExact(lightHandle);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtDestroy {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle) */
    public static int cublasLtDestroy(MemorySegment lightHandle) {
        try {
            return (int) cublasLtDestroy.HANDLE.invokeExact(lightHandle);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtGetVersion {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtGetVersion", FunctionDescriptor.of(JAVA_LONG));
    }

    /** size_t cublasLtGetVersion(void): major*10000 + minor*100 + patch. */
    public static long cublasLtGetVersion() {
        try {
            return (long) cublasLtGetVersion.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtMatmulDescCreate {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtMatmulDescCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }

    /**
     * cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc, cublasComputeType_t computeType,
     * cudaDataType_t scaleType): scaleType is the type of alpha and beta.
     */
    public static int cublasLtMatmulDescCreate(MemorySegment matmulDesc, int computeType, int scaleType) {
        try {
            return (int) cublasLtMatmulDescCreate.HANDLE.invokeExact(matmulDesc, computeType, scaleType);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtMatmulDescDestroy {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtMatmulDescDestroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc) */
    public static int cublasLtMatmulDescDestroy(MemorySegment matmulDesc) {
        try {
            return (int) cublasLtMatmulDescDestroy.HANDLE.invokeExact(matmulDesc);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtMatmulDescSetAttribute {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtMatmulDescSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /**
     * cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc, cublasLtMatmulDescAttributes_t attr,
     * const void *buf, size_t sizeInBytes): sizeInBytes must be the attribute's own size.
     */
    public static int cublasLtMatmulDescSetAttribute(MemorySegment matmulDesc, int attr, MemorySegment buf, long sizeInBytes) {
        try {
            return (int) cublasLtMatmulDescSetAttribute.HANDLE.invokeExact(matmulDesc, attr, buf, sizeInBytes);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtMatrixLayoutCreate {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtMatrixLayoutCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
    }

    /**
     * cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout, cudaDataType type, uint64_t rows,
     * uint64_t cols, int64_t ld): a column-major rows x cols matrix by default.
     */
    public static int cublasLtMatrixLayoutCreate(MemorySegment matLayout, int type, long rows, long cols, long ld) {
        try {
            return (int) cublasLtMatrixLayoutCreate.HANDLE.invokeExact(matLayout, type, rows, cols, ld);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtMatrixLayoutDestroy {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtMatrixLayoutDestroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout) */
    public static int cublasLtMatrixLayoutDestroy(MemorySegment matLayout) {
        try {
            return (int) cublasLtMatrixLayoutDestroy.HANDLE.invokeExact(matLayout);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtMatmul {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtMatmul",
                FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                ADDRESS, JAVA_LONG, ADDRESS));
    }

    /**
     * cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, const void *alpha,
     * const void *A, cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc, const void *beta,
     * const void *C, cublasLtMatrixLayout_t Cdesc, void *D, cublasLtMatrixLayout_t Ddesc,
     * const cublasLtMatmulAlgo_t *algo, void *workspace, size_t workspaceSizeInBytes, cudaStream_t stream):
     * D = alpha op(A) op(B) + beta C on the stream. A NULL algo lets cuBLASLt pick one by its heuristics;
     * alpha and beta point to host values of the descriptor's scale type.
     */
    public static int cublasLtMatmul(MemorySegment lightHandle, MemorySegment computeDesc, MemorySegment alpha,
                                     MemorySegment a, MemorySegment aDesc, MemorySegment b, MemorySegment bDesc,
                                     MemorySegment beta, MemorySegment c, MemorySegment cDesc, MemorySegment d,
                                     MemorySegment dDesc, MemorySegment algo, MemorySegment workspace,
                                     long workspaceSizeInBytes, MemorySegment stream) {
        try {
            return (int) cublasLtMatmul.HANDLE.invokeExact(lightHandle, computeDesc, alpha, a, aDesc, b, bDesc, beta, c, cDesc, d,
                    dDesc, algo, workspace, workspaceSizeInBytes, stream);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtGetStatusName {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtGetStatusName", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    /** const char *cublasLtGetStatusName(cublasStatus_t status): a static string such as "CUBLAS_STATUS_NOT_SUPPORTED". */
    public static MemorySegment cublasLtGetStatusName(int status) {
        try {
            return (MemorySegment) cublasLtGetStatusName.HANDLE.invokeExact(status);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cublasLtGetStatusString {
        static final MethodHandle HANDLE = LIBRARY.downcall("cublasLtGetStatusString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    /** const char *cublasLtGetStatusString(cublasStatus_t status): a static description of the status. */
    public static MemorySegment cublasLtGetStatusString(int status) {
        try {
            return (MemorySegment) cublasLtGetStatusString.HANDLE.invokeExact(status);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
