package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.tessera.ffi.Cublas;
import io.tessera.ffi.CublasLt;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * cuBLASLt for one context, when the library is there: column-major D = op(A) op(B) for int8 operands with int32
 * results, and for BF16 / F16 operands with float32 accumulation and float32 alpha / beta ({@code CUBLAS_COMPUTE_32F}).
 * One handle per context, made on first use and kept with the context; descriptors live for one call (cuBLASLt
 * reads them when the call is queued). Callers keep a fallback: {@link #available()} is false without the library.
 */
final class CudaLt {
    /** IMMA's regular-order conditions: int8 leading dimensions and the m and k of the product are multiples of 4. */
    static final int INT8_MULTIPLE = 4;
    /** The pointer alignment IMMA needs (16 bytes lets it use its vector loads; 4 would do). */
    static final int INT8_ALIGNMENT = 16;

    private final CudaContext context;
    private MemorySegment handle;

    CudaLt(CudaContext context) {
        this.context = context;
    }

    static boolean available() {
        return CublasLt.LIBRARY.isAvailable();
    }

    /** A column-major operand: the device address, its cudaDataType, stored rows x cols with leading dimension ld. */
    record Operand(long address, int type, long rows, long cols, long ld) {}

    /**
     * D = op(A) op(B) with int32 results: A and B CUDA_R_8I, D CUDA_R_32I, TN (A transposed, B not) as IMMA's regular
     * order needs. The caller checks {@link #INT8_MULTIPLE} and {@link #INT8_ALIGNMENT}.
     */
    void int8(Operand a, Operand b, Operand d) {
        try (Arena arena = Arena.ofConfined()) {
            matmul(arena, Cublas.CUBLAS_COMPUTE_32I, Cublas.CUDA_R_32I, Cublas.CUBLAS_OP_T, Cublas.CUBLAS_OP_N, a, b, d,
                    arena.allocateFrom(JAVA_INT, 1), arena.allocateFrom(JAVA_INT, 0));
        }
    }

    /** D = op(A) op(B) in float32 arithmetic with A, B and D of one floating type (BF16, F16 or F32), rounded once to it. */
    void floating(int transa, int transb, Operand a, Operand b, Operand d) {
        try (Arena arena = Arena.ofConfined()) {
            matmul(arena, Cublas.CUBLAS_COMPUTE_32F, Cublas.CUDA_R_32F, transa, transb, a, b, d,
                    arena.allocateFrom(JAVA_FLOAT, 1f), arena.allocateFrom(JAVA_FLOAT, 0f));
        }
    }

    private void matmul(Arena arena, int compute, int scale, int transa, int transb, Operand a, Operand b, Operand d,
                        MemorySegment alpha, MemorySegment beta) {
        MemorySegment lt = handle();
        MemorySegment out = arena.allocate(ADDRESS);
        CublasLt.check(CublasLt.cublasLtMatmulDescCreate(out, compute, scale), "cublasLtMatmulDescCreate");
        MemorySegment desc = out.get(ADDRESS, 0);
        MemorySegment aLayout = MemorySegment.NULL;
        MemorySegment bLayout = MemorySegment.NULL;
        MemorySegment dLayout = MemorySegment.NULL;
        try {
            setOperation(arena, desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSA, transa);
            setOperation(arena, desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSB, transb);
            aLayout = layout(arena, a);
            bLayout = layout(arena, b);
            dLayout = layout(arena, d);
            MemorySegment dAt = MemorySegment.ofAddress(d.address());
            // C is D (beta is zero, so it is never read): one layout for both
            CublasLt.check(CublasLt.cublasLtMatmul(lt, desc, alpha, MemorySegment.ofAddress(a.address()), aLayout,
                    MemorySegment.ofAddress(b.address()), bLayout, beta, dAt, dLayout, dAt, dLayout, MemorySegment.NULL,
                    MemorySegment.NULL, 0, context.stream()), "cublasLtMatmul");
        } finally {
            for (MemorySegment layout : new MemorySegment[] {aLayout, bLayout, dLayout}) {
                if (!layout.equals(MemorySegment.NULL)) {
                    CublasLt.check(CublasLt.cublasLtMatrixLayoutDestroy(layout), "cublasLtMatrixLayoutDestroy");
                }
            }
            CublasLt.check(CublasLt.cublasLtMatmulDescDestroy(desc), "cublasLtMatmulDescDestroy");
        }
    }

    private static void setOperation(Arena arena, MemorySegment desc, int attribute, int operation) {
        CublasLt.check(CublasLt.cublasLtMatmulDescSetAttribute(desc, attribute, arena.allocateFrom(JAVA_INT, operation), Integer.BYTES),
                "cublasLtMatmulDescSetAttribute");
    }

    private static MemorySegment layout(Arena arena, Operand operand) {
        MemorySegment out = arena.allocate(ADDRESS);
        CublasLt.check(CublasLt.cublasLtMatrixLayoutCreate(out, operand.type(), operand.rows(), operand.cols(), operand.ld()),
                "cublasLtMatrixLayoutCreate");
        return out.get(ADDRESS, 0);
    }

    private synchronized MemorySegment handle() {
        context.makeCurrent();
        if (handle == null) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ADDRESS);
                CublasLt.check(CublasLt.cublasLtCreate(out), "cublasLtCreate");
                handle = out.get(ADDRESS, 0);
            }
        }
        return handle;
    }
}
