package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.tessera.engine.MatrixLayout;
import io.tessera.engine.Tensor;
import io.tessera.ffi.Cublas;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Batched row-major matmul through cuBLAS (column-major): y = a b is computed as y^T = b^T a^T, which
 * reads each row-major operand as the column-major transpose it already is, so no operand is copied;
 * a column-major (transposed) view becomes an OP_T. cublasGemmEx in float32 with float32 compute (no
 * TF32), one call per batch matrix.
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
        MemorySegment handle = context.cublas().current();
        long batches = y.numel() / (m * n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocateFrom(JAVA_FLOAT, 1f);
            MemorySegment zero = arena.allocateFrom(JAVA_FLOAT, 0f);
            for (long batch = 0; batch < batches; batch++) {
                long aAt = aBase + MatrixLayout.batchOffset(a, batch) * Float.BYTES;
                long bAt = bBase + MatrixLayout.batchOffset(b, batch) * Float.BYTES;
                long yAt = yBase + batch * m * n * Float.BYTES;
                Cublas.check(Cublas.cublasGemmEx(handle, operation(right), operation(left), (int) n, (int) m, (int) k, one,
                        MemorySegment.ofAddress(bAt), Cublas.CUDA_R_32F, right.leadingDimension(),
                        MemorySegment.ofAddress(aAt), Cublas.CUDA_R_32F, left.leadingDimension(), zero,
                        MemorySegment.ofAddress(yAt), Cublas.CUDA_R_32F, (int) n, Cublas.CUBLAS_COMPUTE_32F,
                        Cublas.CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
            }
        }
    }

    /** A row-major operand is its own transpose in column-major terms: OP_N; a column-major one needs OP_T. */
    private static int operation(MatrixLayout layout) {
        return layout.transposed() ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N;
    }
}
