package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The LAPACKE (C interface to LAPACK) functions Tessera binds, from the same OpenBLAS library as
 * {@link Cblas} (OpenBLAS ships LAPACK). Symbols are listed in ffi/jextract/lapacke.args.
 */
public final class Lapacke {
    private Lapacke() {}

    public static final int LAPACK_ROW_MAJOR = 101;
    public static final byte UPPER = 'U';

    public static final NativeLibrary LIBRARY = Cblas.LIBRARY;

    private static final class LAPACKE_sposv {
        static final MethodHandle HANDLE = LIBRARY.downcall("LAPACKE_sposv", FunctionDescriptor.of(JAVA_INT,
                JAVA_INT, JAVA_BYTE, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
    }

    /**
     * lapack_int LAPACKE_sposv(int matrix_layout, char uplo, lapack_int n, lapack_int nrhs, float *a,
     * lapack_int lda, float *b, lapack_int ldb): solves A X = B for symmetric positive definite A by
     * Cholesky; B is overwritten with X and A with its factor. Returns 0, or i > 0 if A is not positive
     * definite (the leading minor of order i is not), or -i for a bad argument i.
     */
    public static int LAPACKE_sposv(int layout, byte uplo, int n, int nrhs, MemorySegment a, int lda, MemorySegment b, int ldb) {
        try {
            return (int) LAPACKE_sposv.HANDLE.invokeExact(layout, uplo, n, nrhs, a, lda, b, ldb);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
