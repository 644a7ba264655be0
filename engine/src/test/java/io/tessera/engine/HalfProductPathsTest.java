package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The CPU's product with a BF16 or F16 weight runs different code by row count: up to 16 rows ts_gemv_bf16 / _f16,
 * beyond that for BF16 (and beyond 8 on CPUs with AMX-BF16, output-major, k a multiple of 32) AMX tiles with x split
 * into three BF16 pieces. x stays exact either way, so the two differ only by F32 summation order; an infinity or NaN
 * in x reaches the same outputs. Without AMX (and always for F16), on the AVX-512 tier, gemm_panels.c widens the weight
 * to F32 as it packs it; on other tiers the weight is converted to F32 in blocks of stored rows (a range of outputs, or
 * for an input-major weight a range of k summed into y). (BackendConformanceNnTest checks every path against float64
 * sums on small shapes.)
 */
class HalfProductPathsTest {
    private static final CpuBackend CPU = CpuBackend.INSTANCE;

    @Test
    void manyRowsAgreeWithEightRowSlicesAndKeepNonFiniteInputs() {
        System.out.printf("BF16-weight products of more than 8 rows on AMX tiles: %s%n", CpuBackend.amx().bf16());
        // beyond two of the AMX path's 128-row blocks, ending in 24 rows (two activation tiles) or 9 (one); channels in
        // 32-wide blocks, one 16-wide one and a few past the last tile, or in one 16-wide tile alone
        for (int[] mn : new int[][] {{280, 53}, {265, 16}, {20, 40}}) {
            productsOfManyRowsAgreeWithEightRowSlices(mn[0], mn[1]);
        }
    }

    private static void productsOfManyRowsAgreeWithEightRowSlices(int m, int n) {
        int k = 256;
        SplittableRandom rng = new SplittableRandom(9);
        float[] xs = new float[m * k];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) (rng.nextDouble(-3, 3) * Math.pow(10, rng.nextInt(-4, 5))); // magnitudes 1e-4 .. 1e4
        }
        xs[5 * k + 17] = Float.POSITIVE_INFINITY;
        xs[30 % m * k + 3] = Float.NaN;
        xs[200 % m * k + 9] = Float.NEGATIVE_INFINITY; // in the second block, when there is one
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.of(xs, m, k);
            Tensor w = Tensor.randn(Device.CPU, 4, 0, n, k).to(DType.BF16);
            Tensor whole = Tensor.empty(DType.F32, m, n);
            CPU.matmulHalfWeight(x, w, false, whole);
            float[] all = whole.toFloatArray();
            for (int r0 = 0; r0 < m; r0 += 8) {
                int rows8 = Math.min(8, m - r0);
                Tensor part = Tensor.empty(DType.F32, rows8, n);
                CPU.matmulHalfWeight(x.slice(0, r0, r0 + rows8), w, false, part);
                float[] rows = part.toFloatArray();
                for (int i = 0; i < rows.length; i++) {
                    float a = all[r0 * n + i];
                    float b = rows[i];
                    String at = "y[" + (r0 + i / n) + "][" + i % n + "]: " + a + " in one product, " + b + " from 8 rows";
                    if (Float.isFinite(b)) {
                        assertEquals(b, a, 2e-5 * Math.max(1, Math.abs(b)) * k, at);
                    } else {
                        assertEquals(Float.isNaN(b), Float.isNaN(a), at);
                        assertTrue(Float.isNaN(b) || a == b, at);
                    }
                }
            }
        }
    }

    /**
     * Weights of more than one conversion block (1M elements), BF16 and F16: 600 stored rows of 2048 are a block of 512
     * rows and one of 88, as outputs (output-major) or as k (input-major); 20 rows go to gemm_small.c, 70 to OpenBLAS
     * (on the AVX-512 tier, both to gemm_panels.c, which widens the weight as it packs it).
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"BF16", "F16"})
    void weightsOfSeveralConversionBlocksMatchFloat64Sums(DType half) {
        for (boolean inputMajor : new boolean[] {false, true}) {
            for (int m : new int[] {20, 70}) {
                int k = inputMajor ? 600 : 2048;
                int n = inputMajor ? 2048 : 600;
                SplittableRandom rng = new SplittableRandom(m + k);
                float[] xs = new float[m * k];
                for (int i = 0; i < xs.length; i++) {
                    xs[i] = (float) rng.nextDouble(-1, 1);
                }
                try (TensorScope scope = TensorScope.open()) {
                    Tensor w = Tensor.randn(Device.CPU, 6, 0, inputMajor ? k : n, inputMajor ? n : k).to(half);
                    float[] ws = w.to(DType.F32).toFloatArray();
                    Tensor y = Tensor.empty(DType.F32, m, n);
                    CPU.matmulHalfWeight(Tensor.of(xs, m, k), w, inputMajor, y);
                    float[] got = y.toFloatArray();
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double expected = 0;
                            double magnitude = 0;
                            for (int c = 0; c < k; c++) {
                                double term = (double) xs[i * k + c] * ws[inputMajor ? c * n + j : j * k + c];
                                expected += term;
                                magnitude += Math.abs(term);
                            }
                            String at = "y[" + i + "][" + j + "] of [" + m + ", " + k + "] x " + (inputMajor ? "input" : "output")
                                    + "-major " + half + " W";
                            assertEquals(expected, got[i * n + j], 1e-6 * magnitude + 1e-6, at);
                        }
                    }
                }
            }
        }
    }

    /** An x whose BF16 rounding would overflow (above 3.3961e38) is still split exactly: the product stays finite. */
    @Test
    void inputsNearTheLargestFloatStayFinite() {
        int m = (int) CpuBackend.GEMV_MAX_ROWS + 1; // past the GEMV: AMX tiles or gemm_panels.c
        int k = 32;
        int n = 16;
        float[] xs = new float[m * k];
        Arrays.fill(xs, 1e-3f);
        xs[0] = Float.MAX_VALUE;
        xs[4 * k + 7] = -3.4e38f;
        float[] ws = new float[n * k];
        Arrays.fill(ws, 0.25f);
        try (TensorScope scope = TensorScope.open()) {
            Tensor w = Tensor.of(ws, n, k).to(DType.BF16);
            Tensor whole = Tensor.empty(DType.F32, m, n);
            CPU.matmulHalfWeight(Tensor.of(xs, m, k), w, false, whole);
            float[] all = whole.toFloatArray();
            for (int i = 0; i < m; i++) {
                double expected = 0;
                for (int c = 0; c < k; c++) {
                    expected += (double) xs[i * k + c] * 0.25;
                }
                for (int j = 0; j < n; j++) {
                    assertEquals(expected, all[i * n + j], 1e-6 * Math.abs(expected), "y[" + i + "][" + j + "]");
                }
            }
        }
    }
}
