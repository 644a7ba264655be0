package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The CPU's product with a BF16 weight runs different code by row count: up to 8 rows ts_gemv_bf16, beyond that (on
 * CPUs with AMX-BF16, output-major, k a multiple of 32) AMX tiles with x split into three BF16 pieces. x stays exact
 * either way, so the two differ only by F32 summation order; an infinity or NaN in x reaches the same outputs.
 * (BackendConformanceNnTest checks both against float64 sums.)
 */
class Bf16ProductPathsTest {
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
            CPU.matmulBf16(x, w, false, whole);
            float[] all = whole.toFloatArray();
            for (int r0 = 0; r0 < m; r0 += 8) {
                int rows8 = Math.min(8, m - r0);
                Tensor part = Tensor.empty(DType.F32, rows8, n);
                CPU.matmulBf16(x.slice(0, r0, r0 + rows8), w, false, part);
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

    /** An x whose BF16 rounding would overflow (above 3.3961e38) is still split exactly: the product stays finite. */
    @Test
    void inputsNearTheLargestFloatStayFinite() {
        int m = 9;
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
            CPU.matmulBf16(Tensor.of(xs, m, k), w, false, whole);
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
