package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** OpenBLAS through FFM, against float64 Java loops. */
class CblasTest {

    private static MemorySegment random(Arena arena, int n, SplittableRandom rng) {
        MemorySegment s = arena.allocate(JAVA_FLOAT, Math.max(n, 1));
        for (int i = 0; i < n; i++) {
            s.setAtIndex(JAVA_FLOAT, i, (float) (rng.nextDouble() * 2 - 1));
        }
        return s;
    }

    @ParameterizedTest(name = "{0}x{1}x{2} transA={3} transB={4}")
    @CsvSource({"1,1,1,false,false", "7,13,5,false,false", "31,1,17,true,false", "64,37,129,false,true",
                "3,101,2,true,true", "0,5,3,false,false", "5,4,0,false,false"})
    void sgemmRowMajorMatchesReference(int m, int n, int k, boolean transA, boolean transB) {
        SplittableRandom rng = new SplittableRandom(m * 1000L + n * 10L + k);
        try (Arena arena = Arena.ofConfined()) {
            // A is m x k (stored k x m when transposed), B is k x n (stored n x k when transposed)
            MemorySegment a = random(arena, m * k, rng);
            MemorySegment b = random(arena, k * n, rng);
            MemorySegment c = random(arena, m * n, rng);
            int lda = transA ? m : k;
            int ldb = transB ? k : n;
            float alpha = 1.5f;
            float beta = -0.5f;
            double[] expected = new double[m * n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        float av = a.getAtIndex(JAVA_FLOAT, transA ? (long) p * lda + i : (long) i * lda + p);
                        float bv = b.getAtIndex(JAVA_FLOAT, transB ? (long) j * ldb + p : (long) p * ldb + j);
                        acc += (double) av * bv;
                    }
                    expected[i * n + j] = alpha * acc + beta * c.getAtIndex(JAVA_FLOAT, (long) i * n + j);
                }
            }
            Cblas.cblas_sgemm(Cblas.CblasRowMajor, transA ? Cblas.CblasTrans : Cblas.CblasNoTrans,
                    transB ? Cblas.CblasTrans : Cblas.CblasNoTrans, m, n, k, alpha,
                    a, Math.max(lda, 1), b, Math.max(ldb, 1), beta, c, Math.max(n, 1));
            for (int i = 0; i < m * n; i++) {
                assertEquals(expected[i], c.getAtIndex(JAVA_FLOAT, i), 1e-5 * (k + 1), "C[" + i + "]");
            }
        }
    }

    @Test
    void sgemvMatchesReference() {
        int m = 37;
        int n = 53;
        SplittableRandom rng = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = random(arena, m * n, rng);
            MemorySegment x = random(arena, n, rng);
            MemorySegment y = arena.allocate(JAVA_FLOAT, m);
            Cblas.cblas_sgemv(Cblas.CblasRowMajor, Cblas.CblasNoTrans, m, n, 1f, a, n, x, 1, 0f, y, 1);
            for (int i = 0; i < m; i++) {
                double acc = 0;
                for (int j = 0; j < n; j++) {
                    acc += (double) a.getAtIndex(JAVA_FLOAT, (long) i * n + j) * x.getAtIndex(JAVA_FLOAT, j);
                }
                assertEquals(acc, y.getAtIndex(JAVA_FLOAT, i), 1e-4, "y[" + i + "]");
            }
        }
    }

    @Test
    void reportsVersionCoreAndThreads() {
        String config = CStrings.read(Cblas.openblas_get_config());
        // the system's OpenBLAS when there is one (Debian's 0.3.21 here), else the bytedeco jar's 0.3.31
        boolean system = Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libopenblas.so.0"));
        String expected = system ? "system library path" : "libopenblas-0.3.31";
        assertTrue(Cblas.LIBRARY.origin().orElseThrow().contains(expected), Cblas.LIBRARY.origin().orElseThrow());
        assertTrue(config.matches("OpenBLAS 0\\.3\\.\\d+ .*"), config);
        assertTrue(!CStrings.read(Cblas.openblas_get_corename()).isBlank());
        int before = Cblas.openblas_get_num_threads();
        Cblas.openblas_set_num_threads(1);
        assertEquals(1, Cblas.openblas_get_num_threads());
        Cblas.openblas_set_num_threads(before);
        assertEquals(before, Cblas.openblas_get_num_threads());
    }
}
