package io.tessera.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Linear;
import io.tessera.ffi.TesseraCpu;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The int8 layer against a float64 reference written from the definition: codes and scales exactly as
 * round-half-even(x / (absmax / 127)) in float32, the product as the exact integer dot product times both
 * scales plus bias, the LLM.int8 outlier columns in float, on every ISA tier (which must agree bit for bit).
 */
class QuantizedLinearTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** Codes and scales of one row, as the kernel must produce them; excluded columns get code 0. */
    private static float rowCodes(float[] row, boolean[] exclude, int[] codes) {
        float absmax = 0;
        for (int c = 0; c < row.length; c++) {
            if (exclude == null || !exclude[c]) {
                absmax = Math.max(absmax, Math.abs(row[c]));
            }
        }
        float scale = absmax / 127f;
        for (int c = 0; c < row.length; c++) {
            boolean skip = scale == 0 || (exclude != null && exclude[c]);
            codes[c] = skip ? 0 : (int) Math.max(-127, Math.min(127, Math.rint(row[c] / scale)));
        }
        return scale;
    }

    /** y = int8 part + float outlier part, in float64, from the definition. */
    private static double[][] reference(float[][] x, float[][] w, float[] bias, float threshold) {
        int m = x.length;
        int n = w.length;
        int k = w[0].length;
        int[][] wq = new int[n][k];
        float[] ws = new float[n];
        for (int j = 0; j < n; j++) {
            ws[j] = rowCodes(w[j], null, wq[j]);
        }
        boolean[] outlier = new boolean[k];
        for (float[] row : x) {
            for (int c = 0; c < k; c++) {
                outlier[c] |= Math.abs(row[c]) > threshold;
            }
        }
        double[][] y = new double[m][n];
        for (int i = 0; i < m; i++) {
            int[] xq = new int[k];
            float xs = rowCodes(x[i], outlier, xq);
            for (int j = 0; j < n; j++) {
                long dot = 0;
                double extra = 0;
                for (int c = 0; c < k; c++) {
                    dot += (long) xq[c] * wq[j][c];
                    extra += outlier[c] ? (double) x[i][c] * ((float) wq[j][c] * ws[j]) : 0;
                }
                y[i][j] = dot * ((double) xs * ws[j]) + (bias == null ? 0 : bias[j]) + extra;
            }
        }
        return y;
    }

    private static float[][] random(SplittableRandom rng, int rows, int cols, double scale) {
        float[][] a = new float[rows][cols];
        for (float[] row : a) {
            for (int c = 0; c < cols; c++) {
                row[c] = (float) ((rng.nextDouble() * 2 - 1) * scale);
            }
        }
        return a;
    }

    private static float[] flat(float[][] a) {
        int cols = a.length == 0 ? 0 : a[0].length;
        float[] out = new float[a.length * cols];
        for (int i = 0; i < a.length; i++) {
            System.arraycopy(a[i], 0, out, i * cols, cols);
        }
        return out;
    }

    private static float[] forwardOnTier(int tier, QuantizedLinear layer, float[][] x, int k) {
        int active = TesseraCpu.ts_isa_active();
        try (TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_isa_select(tier));
            return layer.forward(Tensor.of(flat(x), x.length, k)).toFloatArray();
        } finally {
            TesseraCpu.ts_isa_select(active);
        }
    }

    private static List<Integer> tiers() {
        List<Integer> tiers = new ArrayList<>();
        for (int tier : new int[] {TesseraCpu.ISA_BASE, TesseraCpu.ISA_AVX2, TesseraCpu.ISA_AVX512}) {
            if (TesseraCpu.ts_isa_supported(tier) != 0) {
                tiers.add(tier);
            }
        }
        return tiers;
    }

    @ParameterizedTest(name = "m = {0}, k = {1}, n = {2}, outlier threshold = {3}")
    @CsvSource({
        "0, 5, 3, 6", "1, 1, 1, 6", "1, 64, 4, inf", "3, 67, 5, 6", "4, 128, 8, inf", "5, 129, 9, 6",
        "7, 200, 33, 6", "9, 31, 17, 0.5", "13, 257, 4, inf", "64, 97, 61, 6", "2, 4099, 7, 6", "1, 768, 37, 6",
        "2, 130, 16, inf", "3, 63, 9, 6"})
    void matchesTheFloat64DefinitionOnEveryTierBitForBitAcrossTiers(int m, int k, int n, String thresholdText) {
        float threshold = thresholdText.equals("inf") ? Float.POSITIVE_INFINITY : Float.parseFloat(thresholdText);
        SplittableRandom rng = new SplittableRandom(31L * m + 7L * k + n);
        float[][] x = random(rng, m, k, 1.0);
        for (float[] row : x) {
            for (int c = 0; c < k; c += 11) {
                row[c] *= 9; // some columns above the threshold of 6
            }
        }
        try (Linear linear = Linear.of(k, n, true, 5)) {
            float[][] w = new float[n][];
            float[] wFlat = linear.weight().toFloatArray();
            for (int j = 0; j < n; j++) {
                w[j] = java.util.Arrays.copyOfRange(wFlat, j * k, (j + 1) * k);
            }
            double[][] expected = reference(x, w, linear.bias().toFloatArray(), threshold);
            try (QuantizedLinear layer = QuantizedLinear.of(linear, threshold)) {
                float[] first = null;
                for (int tier : tiers()) {
                    float[] y = forwardOnTier(tier, layer, x, k);
                    assertEquals((long) m * n, y.length);
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double e = expected[i][j];
                            assertEquals(e, y[i * n + j], 2e-6 * (Math.abs(e) + 1), "tier " + tier + " y[" + i + "][" + j + "]");
                        }
                    }
                    if (first == null) {
                        first = y;
                    } else {
                        assertArrayEquals(first, y, "tier " + tier + " differs from the first tier");
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "m = {0}, k = {1}, n = {2}, {3} float entries")
    @CsvSource({"1, 1, 1, 1", "3, 67, 5, 7", "2, 130, 16, 0", "5, 31, 17, 40", "0, 5, 3, 2", "7, 13, 11, 143"})
    void floatEntriesAddTheirDifferenceFromTheirCodesInFloatAndShareTheCodes(int m, int k, int n, int entries) {
        SplittableRandom rng = new SplittableRandom(97L * m + 13L * k + n + entries);
        float[][] x = random(rng, m, k, 1.0);
        for (float[] row : x) {
            for (int c = 0; c < k; c += 7) {
                row[c] *= 9; // outlier columns too
            }
        }
        long[] rows = new long[entries];
        long[] cols = new long[entries];
        float[] values = new float[entries];
        Map<Long, Float> last = new HashMap<>(); // duplicates (likely in 11 x 13 with 143 entries): the last wins
        for (int j = 0; j < entries; j++) {
            rows[j] = rng.nextInt(n);
            cols[j] = rng.nextInt(k);
            values[j] = (float) (rng.nextDouble() * 4 - 2);
            last.put(rows[j] * k + cols[j], values[j]);
        }
        try (Linear linear = Linear.of(k, n, true, 8)) {
            float[] wFlat = linear.weight().toFloatArray();
            float[][] w = new float[n][];
            int[][] codes = new int[n][k];
            float[] scales = new float[n];
            for (int o = 0; o < n; o++) {
                w[o] = java.util.Arrays.copyOfRange(wFlat, o * k, (o + 1) * k);
                scales[o] = rowCodes(w[o], null, codes[o]);
            }
            double[][] expected = reference(x, w, linear.bias().toFloatArray(), 6);
            double[][] unpatched = reference(x, w, linear.bias().toFloatArray(), 6);
            last.forEach((at, v) -> {
                int o = (int) (at / k);
                int c = (int) (at % k);
                for (int i = 0; i < m; i++) {
                    expected[i][o] += (double) x[i][c] * (v - (double) ((float) codes[o][c] * scales[o]));
                }
            });
            try (QuantizedLinear layer = QuantizedLinear.of(linear, 6)) {
                try (QuantizedLinear patched = layer.withFloatEntries(rows, cols, values)) {
                    float[] y = forwardOnTier(TesseraCpu.ts_isa_active(), patched, x, k);
                    for (int i = 0; i < m; i++) {
                        for (int o = 0; o < n; o++) {
                            assertEquals(expected[i][o], y[i * n + o], 1e-5 * (Math.abs(expected[i][o]) + 1), "y[" + i + "][" + o + "]");
                        }
                    }
                }
                // the shared codes are untouched, and still usable after the patched layer closed
                float[] y = forwardOnTier(TesseraCpu.ts_isa_active(), layer, x, k);
                for (int i = 0; i < m; i++) {
                    for (int o = 0; o < n; o++) {
                        assertEquals(unpatched[i][o], y[i * n + o], 2e-6 * (Math.abs(unpatched[i][o]) + 1));
                    }
                }
                assertThrows(IllegalArgumentException.class, () -> layer.withFloatEntries(new long[] {n}, new long[] {0}, new float[1]));
                assertThrows(IllegalArgumentException.class, () -> layer.withFloatEntries(new long[] {0}, new long[0], new float[1]));
            }
        }
    }

    @Test
    void storesPerChannelCodesAndScalesInLinearsLayoutAlsoForConv1dWeights() {
        try (Linear conv = Linear.conv1d(37, 11, 3); QuantizedLinear layer = QuantizedLinear.of(conv, 6f);
             TensorScope scope = TensorScope.open()) {
            float[] wt = conv.weight().t().contiguous().toFloatArray(); // [out, in]
            int[] codes = layer.stateDict().get("weight").toIntArray();
            float[] scales = layer.stateDict().get("weight_scale").toFloatArray();
            assertArrayEquals(new long[] {11, 37}, layer.stateDict().get("weight").shape());
            assertEquals(DType.I8, layer.stateDict().get("weight").dtype());
            for (int o = 0; o < 11; o++) {
                int[] expected = new int[37];
                float scale = rowCodes(java.util.Arrays.copyOfRange(wt, o * 37, (o + 1) * 37), null, expected);
                assertEquals(scale, scales[o], "scale of channel " + o);
                assertArrayEquals(expected, java.util.Arrays.copyOfRange(codes, o * 37, (o + 1) * 37), "codes of channel " + o);
            }
            float[] back = layer.dequantizedWeight().toFloatArray();
            for (int i = 0; i < wt.length; i++) {
                assertTrue(Math.abs(back[i] - wt[i]) <= scales[i / 37] / 2 * (1 + 1e-6), "weight element " + i);
            }
        }
    }

    @Test
    void keepsTheInputsLeadingShapeAndAcceptsNonContiguousViews() {
        try (Linear linear = Linear.of(6, 4, false, 1); QuantizedLinear layer = QuantizedLinear.of(linear, 6f);
             TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
            Tensor x = Tensor.randn(3, 0, 6, 2, 5).permute(2, 1, 0); // [5, 2, 6], not contiguous
            Tensor y = layer.forward(x);
            assertArrayEquals(new long[] {5, 2, 4}, y.shape());
            assertArrayEquals(layer.forward(x.contiguous()).toFloatArray(), y.toFloatArray());
        }
    }

    @Test
    void rejectsBadInputWithMessagesNamingIt() {
        try (Linear linear = Linear.of(6, 4, true, 1); QuantizedLinear layer = QuantizedLinear.of(linear, 6f);
             TensorScope scope = TensorScope.open()) {
            String shape = assertThrows(IllegalArgumentException.class, () -> layer.forward(Tensor.zeros(2, 5))).getMessage();
            assertTrue(shape.contains("[..., 6]"), shape);
            String dtype = assertThrows(IllegalArgumentException.class, () -> layer.forward(Tensor.zeros(DType.I32, 2, 6))).getMessage();
            assertTrue(dtype.contains("F32"), dtype);
            Tensor tracked = Tensor.zeros(2, 6);
            tracked.requiresGrad(true);
            String grad = assertThrows(IllegalArgumentException.class, () -> layer.forward(tracked)).getMessage();
            assertTrue(grad.contains("inference-only"), grad);
            Tensor nan = Tensor.of(new float[] {1, 2, Float.NaN, 0, 0, 0}, 1, 6);
            try (GradMode off = GradMode.noGrad()) {
                String finite = assertThrows(IllegalArgumentException.class, () -> layer.forward(nan)).getMessage();
                assertTrue(finite.contains("NaN"), finite);
            }
            assertThrows(IllegalArgumentException.class, () -> QuantizedLinear.of(linear, 0f));
            assertThrows(IllegalArgumentException.class, () -> QuantizedLinear.of(linear, Float.NaN));
            String wide = assertThrows(IllegalArgumentException.class, () -> QuantizedLinear.empty(65_537, 1, false, 6f)).getMessage();
            assertTrue(wide.contains("65536"), wide);
        }
    }
    /** The same layer on the CUDA backend (the emulated driver in CI) computes what the CPU does. */
    @Test
    void runsOnTheCudaBackendAsOnTheCpu() {
        java.util.Optional<String> missing = io.tessera.engine.Backends.unavailableReason(io.tessera.engine.Device.Kind.CUDA);
        org.junit.jupiter.api.Assumptions.assumeTrue(missing.isEmpty(), () -> "CUDA backend unavailable: " + missing.orElse(""));
        io.tessera.engine.Device cuda = io.tessera.engine.Device.cuda(0);
        SplittableRandom rng = new SplittableRandom(3);
        float[][] x = random(rng, 7, 131, 1.0);
        x[2][5] = 40; // one outlier column, computed in float
        try (Linear cpuLinear = Linear.of(131, 37, true, 9);
             Linear cudaLinear = io.tessera.engine.nn.Module.on(cuda, () -> Linear.of(131, 37, true, 9));
             QuantizedLinear onCpu = QuantizedLinear.of(cpuLinear, 6f);
             QuantizedLinear onCuda = QuantizedLinear.of(cudaLinear, 6f);
             TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
            Tensor input = Tensor.of(flat(x), 7, 131);
            float[] expected = onCpu.forward(input).toFloatArray();
            Tensor y = onCuda.forward(input.to(cuda));
            assertEquals(cuda, y.device());
            float[] got = y.to(io.tessera.engine.Device.CPU).toFloatArray();
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], got[i], 1e-6 * (Math.abs(expected[i]) + 1), "y[" + i + "]");
            }
            String wrongDevice = assertThrows(IllegalArgumentException.class, () -> onCuda.forward(input)).getMessage();
            assertTrue(wrongDevice.contains("QuantizedLinear on cuda:0") && wrongDevice.contains("on cpu"), wrongDevice);
        }
    }
}
