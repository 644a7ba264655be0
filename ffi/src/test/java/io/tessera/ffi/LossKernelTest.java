package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.assertAllClose;
import static io.tessera.ffi.KernelTestSupport.assertAllCloseD;
import static io.tessera.ffi.KernelTestSupport.filled;
import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.putIndices;
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
 * ts_cross_entropy_f32 / ts_cross_entropy_backward_f32 on every ISA tier, with int32 and int64 labels:
 * per-row loss and log-sum-exp against a float64 reference, the gradient against the analytic
 * reference (softmax - onehot) * gloss and against central finite differences of the reference loss.
 */
class LossKernelTest {

    static Stream<Arguments> cases() {
        return withLabelBytes(KernelTestSupport.ROW_SHAPES);
    }

    static Stream<Arguments> smallCases() {
        return withLabelBytes(KernelTestSupport.SMALL_SHAPES);
    }

    private static Stream<Arguments> withLabelBytes(long[][] shapes) {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : shapes) {
            cases.add(new Object[] {s[0], s[1], 4});
            cases.add(new Object[] {s[0], s[1], 8});
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    record Inputs(int rows, int cols, float[] logits, long[] labels, float[] gloss) {
        static Inputs random(long rows, long cols, long seed) {
            SplittableRandom random = new SplittableRandom(seed);
            float[] x = uniform(random, rows * cols, -8, 8);
            for (int r = 0; r < rows; r++) {
                float shift = (float) (60 * random.nextDouble() - 30);
                for (int j = 0; j < cols; j++) {
                    x[(int) (r * cols + j)] += shift;
                }
            }
            long[] labels = new long[(int) rows];
            for (int r = 0; r < rows; r++) {
                labels[r] = random.nextLong(cols);
            }
            return new Inputs((int) rows, (int) cols, x, labels, uniform(random, rows, -2, 2));
        }
    }

    // ---- float64 references ----

    static double[] logSumExp(double[] x, int rows, int cols) {
        double[] lse = new double[rows];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) {
                max = Math.max(max, x[r * cols + j]);
            }
            double s = 0;
            for (int j = 0; j < cols; j++) {
                s += Math.exp(x[r * cols + j] - max);
            }
            lse[r] = max + Math.log(s);
        }
        return lse;
    }

    static double[] loss(double[] x, long[] labels, int rows, int cols) {
        double[] lse = logSumExp(x, rows, cols);
        double[] loss = new double[rows];
        for (int r = 0; r < rows; r++) {
            loss[r] = lse[r] - x[r * cols + (int) labels[r]];
        }
        return loss;
    }

    static double[] backward(double[] x, long[] labels, double[] gloss, int rows, int cols) {
        double[] lse = logSumExp(x, rows, cols);
        double[] g = new double[x.length];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < cols; j++) {
                g[r * cols + j] = (Math.exp(x[r * cols + j] - lse[r]) - (j == labels[r] ? 1 : 0)) * gloss[r];
            }
        }
        return g;
    }

    /** Central differences of sum(gloss * loss(x)). */
    static double[] finiteDifferences(double[] x, long[] labels, double[] gloss, int rows, int cols) {
        double h = 1e-5;
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + h;
            double plus = weighted(loss(x, labels, rows, cols), gloss);
            x[i] = keep - h;
            double minus = weighted(loss(x, labels, rows, cols), gloss);
            x[i] = keep;
            g[i] = (plus - minus) / (2 * h);
        }
        return g;
    }

    private static double weighted(double[] loss, double[] gloss) {
        double s = 0;
        for (int r = 0; r < loss.length; r++) {
            s += loss[r] * gloss[r];
        }
        return s;
    }

    // ---- kernel calls ----

    /** {loss, lse} */
    private static float[][] runForward(Inputs in, int labelBytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment loss = filled(arena, in.rows, Float.NaN);
            MemorySegment lse = filled(arena, in.rows, Float.NaN);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_cross_entropy_f32(in.rows, in.cols, put(arena, in.logits),
                    putIndices(arena, in.labels, labelBytes), labelBytes, loss, lse));
            return new float[][] {get(loss, in.rows), get(lse, in.rows)};
        }
    }

    private static float[] runBackward(Inputs in, float[] lse, int labelBytes) {
        int n = in.rows * in.cols;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment g = filled(arena, n, Float.NaN);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_cross_entropy_backward_f32(in.rows, in.cols,
                    put(arena, in.logits), putIndices(arena, in.labels, labelBytes), labelBytes, put(arena, lse),
                    put(arena, in.gloss), g));
            return get(g, n);
        }
    }

    // ---- tests ----

    @ParameterizedTest(name = "tier {0}, {1} x {2}, int{3}")
    @MethodSource("cases")
    void forwardMatchesFloat64Reference(int tier, long rows, long cols, int labelBytes) {
        select(tier);
        Inputs in = Inputs.random(rows, cols, 41 * rows + cols);
        float[][] out = runForward(in, labelBytes);
        double[] x = toDouble(in.logits);
        double[] lse = logSumExp(x, in.rows, in.cols);
        double[] loss = loss(x, in.labels, in.rows, in.cols);
        // lse: float rounding of x - max (|x - max| <= 16) then of the result (|lse| <= 40)
        assertAllClose(lse, out[1], i -> 1e-6 + 1e-7 * Math.abs(lse[i]), "lse");
        assertAllClose(loss, out[0], i -> 1e-6 + 1e-7 * (Math.abs(lse[i]) + Math.abs(loss[i])), "loss");
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}, int{3}")
    @MethodSource("cases")
    void backwardMatchesAnalyticReference(int tier, long rows, long cols, int labelBytes) {
        select(tier);
        Inputs in = Inputs.random(rows, cols, 43 * rows + cols);
        float[] lse = runForward(in, labelBytes)[1];
        float[] g = runBackward(in, lse, labelBytes);
        double[] x = toDouble(in.logits);
        double[] expected = backward(x, in.labels, toDouble(in.gloss), in.rows, in.cols);
        double[] exact = logSumExp(x, in.rows, in.cols);
        // exp(x - lse) with lse rounded to float: relative error ~ ulp(lse) + ulp(x - lse)
        assertAllClose(expected, g, i -> {
            int r = i / in.cols;
            double p = Math.exp(x[i] - exact[r]);
            double rel = 2e-7 * (1 + Math.abs(exact[r]) + Math.abs(x[i] - exact[r]));
            return (rel * p + 1e-7 * (p + (i % in.cols == in.labels[r] ? 1 : 0))) * Math.abs(in.gloss[r]) + 1e-30;
        }, "glogits");
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}, int{3}")
    @MethodSource("smallCases")
    void backwardMatchesFiniteDifferences(int tier, long rows, long cols, int labelBytes) {
        select(tier);
        Inputs in = Inputs.random(rows, cols, 47 * rows + cols);
        double[] x = toDouble(in.logits);
        double[] gloss = toDouble(in.gloss);
        double[] numeric = finiteDifferences(x, in.labels, gloss, in.rows, in.cols);
        double[] analytic = backward(x, in.labels, gloss, in.rows, in.cols);
        assertAllCloseD(numeric, analytic, i -> 1e-7 + 1e-6 * Math.abs(numeric[i]), "reference vs FD");
        float[] g = runBackward(in, runForward(in, labelBytes)[1], labelBytes);
        assertAllClose(numeric, g, 1e-5, 1e-5, "kernel vs FD");
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}")
    @MethodSource("io.tessera.ffi.KernelTestSupport#shapesWithTiers")
    void int32AndInt64LabelsAgreeBitForBit(int tier, long rows, long cols) {
        select(tier);
        Inputs in = Inputs.random(rows, cols, 53 * rows + cols);
        float[][] a = runForward(in, 4);
        float[][] b = runForward(in, 8);
        assertArrayEquals(a[0], b[0]);
        assertArrayEquals(a[1], b[1]);
        assertArrayEquals(runBackward(in, a[1], 4), runBackward(in, a[1], 8));
    }
}
