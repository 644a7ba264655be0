package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.tessera.engine.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Backend.solvePositiveDefinite (kernels/cuda/cholesky.cu): Cholesky factorisation and the two triangular
 * solves in one single-block launch, in place as LAPACK's sposv, which the CPU backend calls. The kernel
 * reports a matrix that is not positive definite as LAPACK's info, read back here.
 */
final class CudaCholesky {
    private CudaCholesky() {}

    static void solvePositiveDefinite(CudaBackend backend, CudaContext context, Tensor a, Tensor b) {
        String op = "solvePositiveDefinite";
        long n = a.dim(0);
        long k = b.dim(1);
        long factor = backend.address(op, a);
        long solution = backend.address(op, b);
        try (Scratch info = new Scratch(backend, Integer.BYTES); Arena arena = Arena.ofConfined()) {
            context.launch("ts_solve_positive_definite_f32").i64(n).i64(k).ptr(factor).ptr(solution).ptr(info.address())
                    .run(1, context.geometry().threadsForRow(n * n));
            MemorySegment host = arena.allocate(JAVA_INT);
            context.staging().download(info.address(), host, Integer.BYTES);
            int minor = host.get(JAVA_INT, 0);
            if (minor != 0) {
                throw new IllegalArgumentException(op + ": matrix " + a.describe() + " is not positive definite (leading minor "
                        + minor + ")");
            }
        }
    }
}
