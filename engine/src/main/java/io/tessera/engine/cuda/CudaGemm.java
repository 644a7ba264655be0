package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.tessera.engine.DType;
import io.tessera.engine.MatrixLayout;
import io.tessera.engine.Tensor;
import io.tessera.ffi.Cublas;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Batched row-major matmul through cuBLAS (column-major): y = a b is computed as y^T = b^T a^T, which
 * reads each row-major operand as the column-major transpose it already is, so no operand is copied;
 * a column-major (transposed) view becomes an OP_T. F32 goes through cublasGemmEx with float32 compute (no
 * TF32); BF16 and F16 through cuBLASLt with float32 compute (the caller checks that cuBLASLt is there). One
 * call per batch matrix.
 */
final class CudaGemm {
    private CudaGemm() {}

    static void matmul(CudaBackend backend, CudaContext context, Tensor a, Tensor b, Tensor y) {
        long aBase = backend.address("matmul", a);
        long bBase = backend.address("matmul", b);
        long yBase = backend.address("matmul", y);
        int rank = y.rank();
        long m = y.shape()[rank - 2];
        long n = y.shape()[rank - 1];
        long k = a.shape()[rank - 1];
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0) {
            backend.fill(y, 0);
            return;
        }
        MatrixLayout left = MatrixLayout.of(a, "matmul left operand");
        MatrixLayout right = MatrixLayout.of(b, "matmul right operand");
        long size = y.dtype().byteSize();
        int type = cudaType(y.dtype());
        long batches = y.numel() / (m * n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocateFrom(JAVA_FLOAT, 1f);
            MemorySegment zero = arena.allocateFrom(JAVA_FLOAT, 0f);
            for (long batch = 0; batch < batches; batch++) {
                long aAt = aBase + MatrixLayout.batchOffset(a, batch) * size;
                long bAt = bBase + MatrixLayout.batchOffset(b, batch) * size;
                long yAt = yBase + batch * m * n * size;
                if (type == Cublas.CUDA_R_32F) {
                    Cublas.check(Cublas.cublasGemmEx(context.cublas().current(), operation(right), operation(left), (int) n, (int) m,
                            (int) k, one, MemorySegment.ofAddress(bAt), type, right.leadingDimension(),
                            MemorySegment.ofAddress(aAt), type, left.leadingDimension(), zero,
                            MemorySegment.ofAddress(yAt), type, (int) n, Cublas.CUBLAS_COMPUTE_32F,
                            Cublas.CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
                } else {
                    context.lt().floating(operation(right), operation(left), stored(bAt, type, right, n, k),
                            stored(aAt, type, left, k, m), new CudaLt.Operand(yAt, type, n, m, n));
                }
            }
        }
    }

    /** A row-major operand is its own transpose in column-major terms: OP_N; a column-major one needs OP_T. */
    private static int operation(MatrixLayout layout) {
        return layout.transposed() ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N;
    }

    /** The column-major matrix cuBLASLt reads, whose op is rows x cols: stored so under OP_N, transposed under OP_T. */
    private static CudaLt.Operand stored(long address, int type, MatrixLayout layout, long rows, long cols) {
        return layout.transposed() ? new CudaLt.Operand(address, type, cols, rows, layout.leadingDimension())
                : new CudaLt.Operand(address, type, rows, cols, layout.leadingDimension());
    }

    private static int cudaType(DType dtype) {
        return switch (dtype) {
            case F32 -> Cublas.CUDA_R_32F;
            case BF16 -> Cublas.CUDA_R_16BF;
            case F16 -> Cublas.CUDA_R_16F;
            default -> throw new IllegalArgumentException("no cuBLAS matmul for " + dtype); // Backend.matmul lets none through
        };
    }
}
