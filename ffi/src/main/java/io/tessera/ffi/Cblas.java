package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Properties;

/**
 * Bindings to OpenBLAS (CBLAS interface, 32-bit {@code blasint}). The library is the one named by
 * {@code -Dtessera.openblas=PATH} if set, else the system's {@code libopenblas.so.0} (Debian's
 * {@code libopenblas0-pthread}), else the copy in the org.bytedeco:openblas jar (OpenBLAS 0.3.31 with its
 * Fortran runtime), extracted and loaded through FFM without JavaCPP. The system library comes first because
 * the jar's build packs [k, n] weights (GPT-2's Conv1D, x W) slower: 64 x 4096 x 4096 runs at 101 GFLOP/s
 * against 200 for Debian's 0.3.21 on 2 threads, and a 12-block GPT-2 prefill takes 230 ms against 157
 * (docs/PERFORMANCE.md). Symbols are listed in ffi/jextract/cblas.args.
 */
public final class Cblas {
    private Cblas() {}

    // enum CBLAS_ORDER / CBLAS_TRANSPOSE
    public static final int CblasRowMajor = 101;
    public static final int CblasColMajor = 102;
    public static final int CblasNoTrans = 111;
    public static final int CblasTrans = 112;

    private static final String BYTEDECO_DIR = "org/bytedeco/openblas/linux-x86_64";
    private static final String BYTEDECO_POM = "META-INF/maven/org.bytedeco/openblas/pom.properties";

    /** The OpenBLAS (with LAPACKE) of the org.bytedeco:openblas jar, with the Fortran runtime it needs. */
    static final NativeLibrary.Location BUNDLED = new NativeLibrary.Location.Bundled(BYTEDECO_DIR, "libopenblas.so.0",
            List.of("libgfortran.so.5", "libquadmath.so.0", "libgcc_s.so.1"), bytedecoVersion());

    public static final NativeLibrary LIBRARY = NativeLibrary.of("OpenBLAS", List.of(
            new NativeLibrary.Location.Configured("tessera.openblas"),
            new NativeLibrary.Location.SystemName("libopenblas.so.0"),
            new NativeLibrary.Location.SystemName("libopenblas.so"),
            BUNDLED));

    private static String bytedecoVersion() {
        try (InputStream in = Cblas.class.getClassLoader().getResourceAsStream(BYTEDECO_POM)) {
            if (in == null) {
                return "unversioned";
            }
            Properties pom = new Properties();
            pom.load(in);
            return pom.getProperty("version", "unversioned");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + BYTEDECO_POM, e);
        }
    }

    private static final class cblas_sgemm {
        static final MethodHandle HANDLE = LIBRARY.downcall("cblas_sgemm", FunctionDescriptor.ofVoid(
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT));
    }

    /**
     * void cblas_sgemm(order, transA, transB, M, N, K, alpha, const float *A, lda, const float *B, ldb,
     * beta, float *C, ldc): C = alpha * op(A) op(B) + beta * C.
     */
    public static void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
                                   MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        try {
            cblas_sgemm.HANDLE.invokeExact(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cblas_sgemv {
        static final MethodHandle HANDLE = LIBRARY.downcall("cblas_sgemv", FunctionDescriptor.ofVoid(
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT,
                JAVA_FLOAT, ADDRESS, JAVA_INT));
    }

    /** void cblas_sgemv(order, trans, M, N, alpha, const float *A, lda, const float *x, incx, beta, float *y, incy) */
    public static void cblas_sgemv(int order, int trans, int m, int n, float alpha, MemorySegment a, int lda,
                                   MemorySegment x, int incx, float beta, MemorySegment y, int incy) {
        try {
            cblas_sgemv.HANDLE.invokeExact(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class openblas_set_num_threads {
        static final MethodHandle HANDLE = LIBRARY.downcall("openblas_set_num_threads", FunctionDescriptor.ofVoid(JAVA_INT));
    }

    /** void openblas_set_num_threads(int) */
    public static void openblas_set_num_threads(int threads) {
        try {
            openblas_set_num_threads.HANDLE.invokeExact(threads);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class openblas_get_num_threads {
        static final MethodHandle HANDLE = LIBRARY.downcall("openblas_get_num_threads", FunctionDescriptor.of(JAVA_INT));
    }

    /** int openblas_get_num_threads(void) */
    public static int openblas_get_num_threads() {
        try {
            return (int) openblas_get_num_threads.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class openblas_get_config {
        static final MethodHandle HANDLE = LIBRARY.downcall("openblas_get_config", FunctionDescriptor.of(ADDRESS));
    }

    /** char *openblas_get_config(void): build options and version, a static string. */
    public static MemorySegment openblas_get_config() {
        try {
            return (MemorySegment) openblas_get_config.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class openblas_get_corename {
        static final MethodHandle HANDLE = LIBRARY.downcall("openblas_get_corename", FunctionDescriptor.of(ADDRESS));
    }

    /** char *openblas_get_corename(void): the kernel set chosen for this CPU, a static string. */
    public static MemorySegment openblas_get_corename() {
        try {
            return (MemorySegment) openblas_get_corename.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
