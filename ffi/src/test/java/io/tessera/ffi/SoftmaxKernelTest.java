package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.assertAllClose;
import static io.tessera.ffi.KernelTestSupport.assertAllCloseD;
import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.select;
import static io.tessera.ffi.KernelTestSupport.toDouble;
import static io.tessera.ffi.KernelTestSupport.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ts_softmax_f32 / ts_softmax_backward_f32 (softmax and log-softmax over the last dim) on every ISA tier,
 * against float64 references; backward also against central finite differences of the reference forward.
 */
class SoftmaxKernelTest {

    static Stream<Arguments> cases() {
        return withLog(KernelTestSupport.ROW_SHAPES);
    }

    static Stream<Arguments> smallCases() {
        return withLog(KernelTestSupport.SMALL_SHAPES);
    }

    private static Stream<Arguments> withLog(long[][] shapes) {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : shapes) {
            for (int log = 0; log <= 1; log++) {
                cases.add(new Object[] {s[0], s[1], log});
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    static Stream<Arguments> tiersAndLog() {
        return KernelTestSupport.withTiers(List.of(new Object[] {0}, new Object[] {1}));
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    // ---- float64 references ----

    /** Softmax (log == 0) or log-softmax of each row of x. */
    static double[] forward(double[] x, int rows, int cols, int log) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) {
                max = Math.max(max, x[o + j]);
            }
            double sum = 0;
            for (int j = 0; j < cols; j++) {
                sum += Math.exp(x[o + j] - max);
            }
            for (int j = 0; j < cols; j++) {
                y[o + j] = log != 0 ? x[o + j] - max - Math.log(sum) : Math.exp(x[o + j] - max) / sum;
            }
        }
        return y;
    }

    /** Analytic gradient, from the forward output y: the formulas the kernel implements. */
    static double[] backward(double[] y, double[] gy, int rows, int cols, int log) {
        double[] gx = new double[y.length];
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            double s = 0;
            for (int j = 0; j < cols; j++) {
                s += log != 0 ? gy[o + j] : gy[o + j] * y[o + j];
            }
            for (int j = 0; j < cols; j++) {
                gx[o + j] = log != 0 ? gy[o + j] - Math.exp(y[o + j]) * s : y[o + j] * (gy[o + j] - s);
            }
        }
        return gx;
    }

    /** d/dx of sum(gy * forward(x)) by central differences, one row at a time. */
    static double[] finiteDifferences(double[] x, double[] gy, int rows, int cols, int log) {
        double h = 1e-5;
        double[] g = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double[] row = java.util.Arrays.copyOfRange(x, r * cols, (r + 1) * cols);
            double[] gyr = java.util.Arrays.copyOfRange(gy, r * cols, (r + 1) * cols);
            for (int j = 0; j < cols; j++) {
                double keep = row[j];
                row[j] = keep + h;
                double plus = dot(gyr, forward(row, 1, cols, log));
                row[j] = keep - h;
                double minus = dot(gyr, forward(row, 1, cols, log));
                row[j] = keep;
                g[r * cols + j] = (plus - minus) / (2 * h);
            }
        }
        return g;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    // ---- kernel calls ----

    private static float[] runForward(float[] x, long rows, long cols, int log) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment xs = put(arena, x);
            MemorySegment ys = KernelTestSupport.filled(arena, x.length, Float.NaN);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_softmax_f32(rows, cols, log, xs, ys));
            return get(ys, x.length);
        }
    }

    private static float[] runBackward(float[] y, float[] gy, long rows, long cols, int log) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment gx = KernelTestSupport.filled(arena, y.length, Float.NaN);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_softmax_backward_f32(rows, cols, log, put(arena, y),
                    put(arena, gy), gx));
            return get(gx, y.length);
        }
    }

    /** Logits with a per-row offset up to +-50, so exp without the max shift would lose or overflow. */
    private static float[] logits(SplittableRandom random, long rows, long cols) {
        float[] x = uniform(random, rows * cols, -6, 6);
        for (int r = 0; r < rows; r++) {
            float shift = (float) (100 * random.nextDouble() - 50);
            for (int j = 0; j < cols; j++) {
                x[(int) (r * cols + j)] += shift;
            }
        }
        return x;
    }

    // ---- tests ----

    @ParameterizedTest(name = "tier {0}, {1} x {2}, log {3}")
    @MethodSource("cases")
    void forwardMatchesFloat64Reference(int tier, long rows, long cols, int log) {
        select(tier);
        SplittableRandom random = new SplittableRandom(1000 * rows + cols + 7 * log);
        float[] x = logits(random, rows, cols);
        float[] y = runForward(x, rows, cols, log);
        double[] expected = forward(toDouble(x), (int) rows, (int) cols, log);
        if (log == 0) {
            // float rounding of x - max (|x - max| <= 12, so <= 2^-21 absolute) dominates: ~5e-7 relative
            assertAllClose(expected, y, 1e-30, 2e-6, "softmax");
            for (int r = 0; r < rows; r++) {
                double sum = 0;
                for (int j = 0; j < cols; j++) {
                    sum += y[(int) (r * cols + j)];
                }
                assertEquals(1.0, sum, 1e-6 * Math.sqrt(cols) + 1e-6, "row " + r + " sums to one");
            }
        } else {
            assertAllClose(expected, y, 1e-6, 1e-6, "log-softmax");
        }
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}, log {3}")
    @MethodSource("cases")
    void backwardMatchesAnalyticReference(int tier, long rows, long cols, int log) {
        select(tier);
        SplittableRandom random = new SplittableRandom(2000 * rows + cols + 7 * log);
        float[] y = runForward(logits(random, rows, cols), rows, cols, log);
        float[] gy = uniform(random, rows * cols, -1, 1);
        float[] gx = runBackward(y, gy, rows, cols, log);
        double[] yd = toDouble(y);
        double[] gyd = toDouble(gy);
        double[] expected = backward(yd, gyd, (int) rows, (int) cols, log);
        // the kernel rounds the row sum to float once and each term a few times: bound by the terms' size
        double[] scale = new double[y.length];
        for (int r = 0; r < rows; r++) {
            int o = (int) (r * cols);
            double s = 0;
            for (int j = 0; j < cols; j++) {
                s += log != 0 ? Math.abs(gyd[o + j]) : Math.abs(gyd[o + j] * yd[o + j]);
            }
            for (int j = 0; j < cols; j++) {
                scale[o + j] = log != 0 ? Math.abs(gyd[o + j]) + Math.exp(yd[o + j]) * s
                        : Math.abs(yd[o + j]) * (Math.abs(gyd[o + j]) + s);
            }
        }
        assertAllClose(expected, gx, i -> 1e-6 * scale[i] + 1e-30, log != 0 ? "log-softmax grad" : "softmax grad");
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}, log {3}")
    @MethodSource("smallCases")
    void backwardMatchesFiniteDifferences(int tier, long rows, long cols, int log) {
        select(tier);
        SplittableRandom random = new SplittableRandom(3000 * rows + cols + 7 * log);
        float[] x = uniform(random, rows * cols, -3, 3);
        float[] gy = uniform(random, rows * cols, -1, 1);
        double[] xd = toDouble(x);
        double[] gyd = toDouble(gy);
        double[] numeric = finiteDifferences(xd, gyd, (int) rows, (int) cols, log);
        double[] analytic = backward(forward(xd, (int) rows, (int) cols, log), gyd, (int) rows, (int) cols, log);
        assertAllCloseD(numeric, analytic, i -> 1e-8 + 1e-7 * Math.abs(numeric[i]), "reference vs finite differences");
        float[] gx = runBackward(runForward(x, rows, cols, log), gy, rows, cols, log);
        assertAllClose(numeric, gx, 2e-6, 1e-5, "kernel vs finite differences");
    }

    @ParameterizedTest(name = "tier {0}, log {1}")
    @MethodSource("tiersAndLog")
    void extremeRowsStayFinite(int tier, int log) {
        select(tier);
        float inf = Float.POSITIVE_INFINITY;
        float[] x = {
            1000f, 999f, -1000f, 0f, // would overflow exp without the max shift
            -inf, 3f, -inf, 3f, // masked entries (causal mask): exactly zero probability
            5f, 5f, 5f, 5f, // uniform row
            -80f, -80f, -200f, -80f, // far below 0: would underflow without the shift
        };
        float[] y = runForward(x, 4, 4, log);
        double[] expected = forward(toDouble(x), 4, 4, log);
        assertAllClose(expected, y, 1e-6, 1e-6, "extreme rows");
        if (log == 0) {
            assertEquals(0f, y[4]);
            assertEquals(0.5f, y[5]);
            assertEquals(0.25f, y[8]);
        } else {
            assertEquals(Float.NEGATIVE_INFINITY, y[4]);
            assertTrue(Float.isFinite(y[2]) && y[2] < -1999f);
        }
    }
}
