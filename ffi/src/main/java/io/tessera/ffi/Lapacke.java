package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * The LAPACKE (C interface to LAPACK) functions Tessera binds: from {@code -Dtessera.lapacke=PATH} if set,
 * else the system's {@code liblapacke.so.3} (whose LAPACK is Debian's OpenBLAS when
 * {@code libopenblas0-pthread} is installed, the same library {@link Cblas} loads), else the jar's OpenBLAS,
 * which ships LAPACKE itself (Debian's {@code libopenblas.so.0} does not). Symbols are listed in
 * ffi/jextract/lapacke.args.
 */
public final class Lapacke {
    private Lapacke() {}

    public static final int LAPACK_ROW_MAJOR = 101;
    public static final byte UPPER = 'U';

    public static final NativeLibrary LIBRARY = NativeLibrary.of("LAPACKE", List.of(
            new NativeLibrary.Location.Configured("tessera.lapacke"),
            new NativeLibrary.Location.SystemName("liblapacke.so.3"),
            Cblas.BUNDLED));

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
