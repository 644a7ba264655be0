package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.assertAllClose;
import static io.tessera.ffi.KernelTestSupport.assertAllCloseD;
import static io.tessera.ffi.KernelTestSupport.filled;
import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.select;
import static io.tessera.ffi.KernelTestSupport.toDouble;
import static io.tessera.ffi.KernelTestSupport.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
 * ts_layernorm_f32 / ts_rmsnorm_f32 and their backward on every ISA tier: forward (y, mean, rstd) and
 * backward (gx, gw, gb) against float64 references, with and without weight and bias; the analytic
 * reference and the kernel against central finite differences of the reference forward; gw/gb written
 * (not accumulated), zero for zero rows, and identical from run to run on the OpenMP path.
 */
class NormKernelTest {
    private static final float EPS = 1e-5f;

    /** Which optional tensors are present: weight, bias. */
    enum Affine {
        BOTH(true, true), WEIGHT(true, false), BIAS(false, true), NONE(false, false);

        final boolean weight;
        final boolean bias;

        Affine(boolean weight, boolean bias) {
            this.weight = weight;
            this.bias = bias;
        }
    }

    static Stream<Arguments> cases() {
        return withAffine(KernelTestSupport.ROW_SHAPES);
    }

    static Stream<Arguments> smallCases() {
        return withAffine(KernelTestSupport.SMALL_SHAPES);
    }

    private static Stream<Arguments> withAffine(long[][] shapes) {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : shapes) {
            for (Affine a : Affine.values()) {
                cases.add(new Object[] {s[0], s[1], a});
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    /** Inputs of one case: x with a per-row offset, weight around 1, bias around 0 (null when absent). */
    record Inputs(int rows, int cols, float[] x, float[] w, float[] b, float[] gy) {
        static Inputs random(long rows, long cols, Affine affine, long seed) {
            SplittableRandom random = new SplittableRandom(seed);
            float[] x = uniform(random, rows * cols, -2, 2);
            for (int r = 0; r < rows; r++) {
                float shift = (float) (6 * random.nextDouble() - 3);
                for (int j = 0; j < cols; j++) {
                    x[(int) (r * cols + j)] += shift;
                }
            }
            float[] w = affine.weight ? uniform(random, cols, 0.5, 1.5) : null;
            float[] b = affine.bias ? uniform(random, cols, -1, 1) : null;
            return new Inputs((int) rows, (int) cols, x, w, b, uniform(random, rows * cols, -1, 1));
        }

        double w(int j) {
            return w == null ? 1 : w[j];
        }

        double b(int j) {
            return b == null ? 0 : b[j];
        }
    }

    // ---- float64 references ----

    /** Layer norm (rms == false) or RMS norm of x with weight w and bias b (null: 1 and 0). */
    static double[] forward(double[] x, double[] w, double[] b, int rows, int cols, boolean rms) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double mean = rms ? 0 : mean(x, r, cols);
            double rstd = rstd(x, r, cols, mean, rms);
            for (int j = 0; j < cols; j++) {
                int i = r * cols + j;
                y[i] = (x[i] - mean) * rstd * (w == null ? 1 : w[j]) + (b == null ? 0 : b[j]);
            }
        }
        return y;
    }

    static double mean(double[] x, int r, int cols) {
        double s = 0;
        for (int j = 0; j < cols; j++) {
            s += x[r * cols + j];
        }
        return s / cols;
    }

    /** 1 / sqrt(biased variance + eps) around mean (0 for RMS norm, which uses the mean square). */
    static double rstd(double[] x, int r, int cols, double mean, boolean rms) {
        double s = 0;
        for (int j = 0; j < cols; j++) {
            double d = x[r * cols + j] - (rms ? 0 : mean);
            s += d * d;
        }
        return 1 / Math.sqrt(s / cols + (double) EPS);
    }

    /** Analytic gradients {gx, gw, gb} of sum(gy * y). */
    static double[][] backward(double[] x, double[] w, double[] gy, int rows, int cols, boolean rms) {
        double[] gx = new double[x.length];
        double[] gw = new double[cols];
        double[] gb = new double[cols];
        for (int r = 0; r < rows; r++) {
            double mean = rms ? 0 : mean(x, r, cols);
            double rstd = rstd(x, r, cols, mean, rms);
            double sg = 0;
            double sgx = 0;
            for (int j = 0; j < cols; j++) {
                int i = r * cols + j;
                double xhat = (x[i] - mean) * rstd;
                double g = gy[i] * (w == null ? 1 : w[j]);
                sg += g;
                sgx += g * xhat;
                gw[j] += gy[i] * xhat;
                gb[j] += gy[i];
            }
            for (int j = 0; j < cols; j++) {
                int i = r * cols + j;
                double xhat = (x[i] - mean) * rstd;
                double g = gy[i] * (w == null ? 1 : w[j]);
                gx[i] = rstd * (g - (rms ? 0 : sg / cols) - xhat * sgx / cols);
            }
        }
        return new double[][] {gx, gw, gb};
    }

    /** Central differences of sum(gy * forward) with respect to x, w and b. */
    static double[][] finiteDifferences(double[] x, double[] w, double[] b, double[] gy, int rows, int cols,
            boolean rms) {
        double[][] params = {x, w, b};
        double[][] grads = new double[3][];
        double h = 1e-6;
        for (int p = 0; p < 3; p++) {
            double[] v = params[p];
            if (v == null) {
                continue;
            }
            grads[p] = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                double keep = v[i];
                v[i] = keep + h;
                double plus = dot(gy, forward(x, w, b, rows, cols, rms));
                v[i] = keep - h;
                double minus = dot(gy, forward(x, w, b, rows, cols, rms));
                v[i] = keep;
                grads[p][i] = (plus - minus) / (2 * h);
            }
        }
        return grads;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static double[] orNull(float[] v) {
        return v == null ? null : toDouble(v);
    }

    // ---- kernel calls ----

    /** Kernel forward: {y, mean, rstd} (mean empty for RMS norm). */
    private static float[][] runForward(Inputs in, boolean rms) {
        int n = in.rows * in.cols;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = in.w == null ? MemorySegment.NULL : put(arena, in.w);
            MemorySegment b = in.b == null ? MemorySegment.NULL : put(arena, in.b);
            MemorySegment y = filled(arena, n, Float.NaN);
            MemorySegment mean = filled(arena, in.rows, Float.NaN);
            MemorySegment rstd = filled(arena, in.rows, Float.NaN);
            int rc = rms ? TesseraCpu.ts_rmsnorm_f32(in.rows, in.cols, EPS, put(arena, in.x), w, y, rstd)
                    : TesseraCpu.ts_layernorm_f32(in.rows, in.cols, EPS, put(arena, in.x), w, b, y, mean, rstd);
            assertEquals(TesseraCpu.TS_OK, rc);
            return new float[][] {get(y, n), rms ? new float[0] : get(mean, in.rows), get(rstd, in.rows)};
        }
    }

    /** Kernel backward from the kernel's own forward statistics: {gx, gw, gb} (gb empty for RMS norm). */
    private static float[][] runBackward(Inputs in, float[][] stats, boolean rms, boolean wantGw, boolean wantGb) {
        int n = in.rows * in.cols;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = in.w == null ? MemorySegment.NULL : put(arena, in.w);
            MemorySegment gx = filled(arena, n, Float.NaN);
            MemorySegment gw = wantGw ? filled(arena, in.cols, Float.NaN) : MemorySegment.NULL;
            MemorySegment gb = wantGb ? filled(arena, in.cols, Float.NaN) : MemorySegment.NULL;
            int rc = rms
                    ? TesseraCpu.ts_rmsnorm_backward_f32(in.rows, in.cols, put(arena, in.x), w, put(arena, stats[2]),
                            put(arena, in.gy), gx, gw)
                    : TesseraCpu.ts_layernorm_backward_f32(in.rows, in.cols, put(arena, in.x), w, put(arena, stats[1]),
                            put(arena, stats[2]), put(arena, in.gy), gx, gw, gb);
            assertEquals(TesseraCpu.TS_OK, rc);
            return new float[][] {get(gx, n), wantGw ? get(gw, in.cols) : null, wantGb ? get(gb, in.cols) : null};
        }
    }

    // ---- checks shared by layer norm and RMS norm ----

    private static void checkForward(Inputs in, boolean rms) {
        float[][] out = runForward(in, rms);
        double[] x = toDouble(in.x);
        double[] expected = forward(x, orNull(in.w), orNull(in.b), in.rows, in.cols, rms);
        double[] means = new double[in.rows];
        double[] rstds = new double[in.rows];
        for (int r = 0; r < in.rows; r++) {
            means[r] = rms ? 0 : mean(x, r, in.cols);
            rstds[r] = rstd(x, r, in.cols, means[r], rms);
        }
        // each float rounding (mean, x - mean, rstd, the products, + b) is relative to the size of the terms
        assertAllClose(expected, out[0], i -> {
            int r = i / in.cols;
            int j = i % in.cols;
            return 1e-6 * ((Math.abs(x[i]) + Math.abs(means[r])) * rstds[r] * Math.abs(in.w(j)) + Math.abs(in.b(j)))
                    + 1e-30;
        }, "y");
        if (!rms) {
            assertAllClose(means, out[1], 1e-30, 1e-7, "mean");
        }
        assertAllClose(rstds, out[2], 1e-30, 1e-7, "rstd");
    }

    /**
     * Error scales {gx, gw, gb} of the kernel's backward: each result is bounded by the size of what it is
     * computed from. The kernel's statistics and xhat are float (relative error ~1e-7 of (|x| + |mean|) rstd),
     * and g - mean(g) - xhat mean(g xhat) may cancel; sums are float64.
     */
    private static double[][] errorScales(Inputs in, boolean rms) {
        double[] x = toDouble(in.x);
        int rows = in.rows;
        int cols = in.cols;
        double[] gScale = new double[x.length];
        double[] gwScale = new double[cols];
        double[] gbScale = new double[cols];
        for (int r = 0; r < rows; r++) {
            double mean = rms ? 0 : mean(x, r, cols);
            double rstd = rstd(x, r, cols, mean, rms);
            double meanAbsG = 0;
            double meanAbsGx = 0;
            for (int j = 0; j < cols; j++) {
                int i = r * cols + j;
                double xhatSize = (Math.abs(x[i]) + Math.abs(mean)) * rstd;
                meanAbsG += Math.abs(in.gy[i] * in.w(j)) / cols;
                meanAbsGx += Math.abs(in.gy[i] * in.w(j)) * xhatSize / cols;
                gwScale[j] += Math.abs(in.gy[i]) * xhatSize;
                gbScale[j] += Math.abs(in.gy[i]);
            }
            for (int j = 0; j < cols; j++) {
                int i = r * cols + j;
                double xhatSize = (Math.abs(x[i]) + Math.abs(mean)) * rstd;
                gScale[i] = rstd * (Math.abs(in.gy[i] * in.w(j)) + meanAbsG + xhatSize * meanAbsGx);
            }
        }
        return new double[][] {gScale, gwScale, gbScale};
    }

    /** Relative factors on {@link #errorScales}: a few float roundings for gx and gw, one for gb. */
    private static final double[] ERROR_FACTORS = {1e-6, 1e-6, 1e-7};

    private static void checkBackward(Inputs in, boolean rms) {
        float[][] stats = runForward(in, rms);
        float[][] grads = runBackward(in, stats, rms, true, !rms);
        double[][] expected = backward(toDouble(in.x), orNull(in.w), toDouble(in.gy), in.rows, in.cols, rms);
        double[][] scales = errorScales(in, rms);
        String[] names = {"gx", "gw", "gb"};
        for (int p = 0; p < (rms ? 2 : 3); p++) {
            double[] scale = scales[p];
            double factor = ERROR_FACTORS[p];
            assertAllClose(expected[p], grads[p], i -> factor * scale[i] + 1e-30, names[p]);
        }
    }

    private static void checkFiniteDifferences(Inputs in, boolean rms) {
        double[] x = toDouble(in.x);
        double[] w = orNull(in.w);
        double[] b = rms ? null : orNull(in.b);
        double[] gy = toDouble(in.gy);
        double[][] numeric = finiteDifferences(x, w, b, gy, in.rows, in.cols, rms);
        double[][] analytic = backward(x, w, gy, in.rows, in.cols, rms);
        float[][] kernel = runBackward(in, runForward(in, rms), rms, true, !rms);
        double[][] scales = errorScales(in, rms);
        String[] names = {"gx", "gw", "gb"};
        for (int p = 0; p < 3; p++) {
            if (numeric[p] == null) {
                continue; // no such parameter: its gradient is still defined (gw with w = 1) but not by FD here
            }
            double[] fd = numeric[p];
            assertAllCloseD(fd, analytic[p], i -> 1e-7 + 1e-6 * Math.abs(fd[i]), "reference " + names[p] + " vs FD");
            // the kernel's own error (as in checkBackward) plus the finite differences' truncation
            double[] scale = scales[p];
            double factor = ERROR_FACTORS[p];
            assertAllClose(fd, kernel[p], i -> 2 * factor * scale[i] + 1e-7 + 1e-6 * Math.abs(fd[i]),
                    "kernel " + names[p] + " vs FD");
        }
    }

    // ---- layer norm ----

    @ParameterizedTest(name = "tier {0}, {1} x {2}, {3}")
    @MethodSource("cases")
    void layerNormForwardMatchesFloat64Reference(int tier, long rows, long cols, Affine affine) {
        select(tier);
        checkForward(Inputs.random(rows, cols, affine, 11 * rows + cols + affine.ordinal()), false);
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}, {3}")
    @MethodSource("cases")
    void layerNormBackwardMatchesAnalyticReference(int tier, long rows, long cols, Affine affine) {
        select(tier);
        checkBackward(Inputs.random(rows, cols, affine, 13 * rows + cols + affine.ordinal()), false);
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}, {3}")
    @MethodSource("smallCases")
    void layerNormBackwardMatchesFiniteDifferences(int tier, long rows, long cols, Affine affine) {
        select(tier);
        checkFiniteDifferences(Inputs.random(rows, cols, affine, 17 * rows + cols + affine.ordinal()), false);
    }

    // ---- RMS norm (the bias variants are the same calls: RMS norm has no bias) ----

    @ParameterizedTest(name = "tier {0}, {1} x {2}, {3}")
    @MethodSource("cases")
    void rmsNormForwardMatchesFloat64Reference(int tier, long rows, long cols, Affine affine) {
        select(tier);
        if (affine.bias) {
            return;
        }
        checkForward(Inputs.random(rows, cols, affine, 19 * rows + cols + affine.ordinal()), true);
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}, {3}")
    @MethodSource("cases")
    void rmsNormBackwardMatchesAnalyticReference(int tier, long rows, long cols, Affine affine) {
        select(tier);
        if (affine.bias) {
            return;
        }
        checkBackward(Inputs.random(rows, cols, affine, 23 * rows + cols + affine.ordinal()), true);
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}, {3}")
    @MethodSource("smallCases")
    void rmsNormBackwardMatchesFiniteDifferences(int tier, long rows, long cols, Affine affine) {
        select(tier);
        if (affine.bias) {
            return;
        }
        checkFiniteDifferences(Inputs.random(rows, cols, affine, 29 * rows + cols + affine.ordinal()), true);
    }

    // ---- gw / gb are written, optional, and deterministic ----

    @ParameterizedTest(name = "tier {0}, {1} x {2}")
    @MethodSource("io.tessera.ffi.KernelTestSupport#shapesWithTiers")
    void weightGradientsAreWrittenOptionalAndDeterministic(int tier, long rows, long cols) {
        select(tier);
        for (boolean rms : new boolean[] {false, true}) {
            Inputs in = Inputs.random(rows, cols, Affine.BOTH, 31 * rows + cols);
            float[][] stats = runForward(in, rms);
            float[][] full = runBackward(in, stats, rms, true, !rms);
            float[][] again = runBackward(in, stats, rms, true, !rms);
            assertArrayEquals(full[0], again[0], "gx is deterministic");
            assertArrayEquals(full[1], again[1], "gw is deterministic");
            if (rows == 0) {
                assertArrayEquals(new float[(int) cols], full[1], "gw over zero rows is written as zero");
            }
            // gx does not depend on whether the weight gradients are wanted
            assertArrayEquals(full[0], runBackward(in, stats, rms, false, false)[0], "gx without gw, gb");
            if (!rms) {
                assertArrayEquals(full[2], again[2], "gb is deterministic");
                float[][] onlyGb = runBackward(in, stats, false, false, true);
                assertArrayEquals(full[2], onlyGb[2], "gb alone");
                assertArrayEquals(full[1], runBackward(in, stats, false, true, false)[1], "gw alone");
                if (rows == 0) {
                    assertArrayEquals(new float[(int) cols], full[2], "gb over zero rows is written as zero");
                }
            }
        }
    }
}
