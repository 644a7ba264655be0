package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.putLongs;
import static io.tessera.ffi.KernelTestSupport.select;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ts_unary_f32, ts_binary_f32 and ts_compare_f32 on every ISA tier, fed NaN, +-inf, +-0 and ordinary values
 * through each inner loop (unit strides, either operand broadcast, general strides), against float64
 * references with PyTorch's semantics: NaN propagates through every op (relu(NaN), maximum(NaN, x) and
 * gelu(NaN) are NaN), maximum and minimum order -0 below +0, and relu's gradient is threshold_backward's
 * (0 where x <= 0, else the upstream gradient, which therefore passes at a NaN input). Infinities, zeros
 * (with their sign) and NaN must match exactly; finite values to 1e-5 relative.
 */
class ElementwiseKernelTest {
    private static final float[] VALUES = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0.0f, 0.0f, 1f, -2.5f, 0.75f};
    private static final double TOLERANCE = 1e-5;
    private static final double BETA = Math.sqrt(2 / Math.PI);
    private static final double KAPPA = 0.044715;

    record Unary(String name, int code, float alpha, DoubleUnaryOperator reference) {
        @Override
        public String toString() {
            return name;
        }
    }

    record Binary(String name, int code, DoubleBinaryOperator reference) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** Op codes of kernels/include/tessera/ts_ops.h. */
    static final List<Unary> UNARY = List.of(
            new Unary("neg", 0, 0, v -> -v),
            new Unary("exp", 1, 0, Math::exp),
            new Unary("log", 2, 0, Math::log),
            new Unary("sqrt", 3, 0, Math::sqrt),
            new Unary("tanh", 4, 0, Math::tanh),
            new Unary("relu", 5, 0, v -> Math.max(v, 0.0)),
            new Unary("gelu_tanh", 6, 0, v -> 0.5 * v * (1 + Math.tanh(BETA * (v + KAPPA * v * v * v)))),
            new Unary("gelu_erf", 7, 0, v -> 0.5 * v * (1 + erf(v / Math.sqrt(2)))),
            new Unary("silu", 8, 0, v -> v / (1 + Math.exp(-v))),
            new Unary("sigmoid", 9, 0, ElementwiseKernelTest::sigmoid),
            new Unary("abs", 10, 0, Math::abs),
            new Unary("reciprocal", 11, 0, v -> 1 / v),
            new Unary("add 2.5", 12, 2.5f, v -> v + 2.5),
            new Unary("mul -1.5", 13, -1.5f, v -> v * -1.5),
            new Unary("pow 2", 14, 2f, v -> pow(v, 2)),
            new Unary("pow 0.5", 14, 0.5f, v -> pow(v, 0.5)),
            new Unary("pow -1", 14, -1f, v -> pow(v, -1)),
            new Unary("rsub 1", 15, 1f, v -> 1 - v),
            new Unary("rdiv 2", 16, 2f, v -> 2 / v),
            new Unary("sin", 17, 0, Math::sin),
            new Unary("cos", 18, 0, Math::cos));

    /** The *_grad ops take (forward input, or output for sigmoid and tanh; upstream gradient). */
    static final List<Binary> BINARY = List.of(
            new Binary("add", 0, Double::sum),
            new Binary("sub", 1, (p, q) -> p - q),
            new Binary("mul", 2, (p, q) -> p * q),
            new Binary("div", 3, (p, q) -> p / q),
            new Binary("maximum", 4, Math::max),
            new Binary("minimum", 5, Math::min),
            new Binary("pow", 6, ElementwiseKernelTest::pow),
            new Binary("relu_grad", 7, (x, g) -> x <= 0 ? 0 : g),
            new Binary("gelu_tanh_grad", 8, (x, g) -> {
                double t = Math.tanh(BETA * (x + KAPPA * x * x * x));
                return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * BETA * (1 + 3 * KAPPA * x * x));
            }),
            new Binary("gelu_erf_grad", 9,
                    (x, g) -> g * (0.5 * (1 + erf(x / Math.sqrt(2))) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI))),
            new Binary("silu_grad", 10, (x, g) -> g * sigmoid(x) * (1 + x * (1 - sigmoid(x)))),
            new Binary("sigmoid_grad", 11, (y, g) -> g * (1 - y) * y),
            new Binary("tanh_grad", 12, (y, g) -> g * (1 - y * y)));

    /** IEEE comparisons, false with a NaN operand except ne: as 0/1. */
    static final List<Binary> COMPARE = List.of(
            new Binary("eq", 0, (p, q) -> p == q ? 1 : 0),
            new Binary("ne", 1, (p, q) -> p != q ? 1 : 0),
            new Binary("lt", 2, (p, q) -> p < q ? 1 : 0),
            new Binary("le", 3, (p, q) -> p <= q ? 1 : 0),
            new Binary("gt", 4, (p, q) -> p > q ? 1 : 0),
            new Binary("ge", 5, (p, q) -> p >= q ? 1 : 0));

    static double sigmoid(double v) {
        return 1 / (1 + Math.exp(-v));
    }

    /** C's pow (which PyTorch's is): unlike Math.pow, pow(1, y) and pow(-1, +-inf) are 1 even for a NaN y. */
    static double pow(double x, double y) {
        return x == 1 || (x == -1 && Double.isInfinite(y)) ? 1 : Math.pow(x, y);
    }

    /** erf by Simpson's rule on 2000 intervals (error far below float precision); sign-exact at 0. */
    static double erf(double x) {
        if (Double.isNaN(x) || x == 0) {
            return x;
        }
        if (Math.abs(x) > 6) {
            return Math.signum(x);
        }
        int steps = 2000;
        double h = x / steps;
        double sum = 1 + Math.exp(-x * x);
        for (int k = 1; k < steps; k++) {
            sum += (k % 2 == 1 ? 4 : 2) * Math.exp(-(k * h) * (k * h));
        }
        return 2 / Math.sqrt(Math.PI) * sum * h / 3;
    }

    static List<Integer> tiers() {
        return KernelTestSupport.tiers();
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    private static void assertMatches(double expected, float actual, String what) {
        if (Double.isNaN(expected)) {
            assertTrue(Float.isNaN(actual), what + ": expected NaN but was " + actual);
        } else if (Double.isInfinite(expected) || expected == 0) {
            assertEquals(0, Float.compare((float) expected, actual), what + ": expected " + (float) expected + " but was " + actual);
        } else if (!(Math.abs(actual - expected) <= TOLERANCE * Math.abs(expected))) {
            fail(what + ": expected " + expected + " but was " + actual);
        }
    }

    /** Unit strides, and every value at stride 2 written at stride 3 (the general loop). */
    @ParameterizedTest
    @MethodSource("tiers")
    void unaryOpsOfSpecialValuesFollowPyTorch(int tier) {
        select(tier);
        int n = VALUES.length;
        float[] spread = new float[2 * n];
        for (int i = 0; i < n; i++) {
            spread[2 * i] = VALUES[i];
        }
        for (Unary op : UNARY) {
            for (int stride : new int[] {1, 2}) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment y = arena.allocate(4L * 3 * n);
                    int status = TesseraCpu.ts_unary_f32(op.code(), op.alpha(), 1, putLongs(arena, new long[] {n}),
                            put(arena, stride == 1 ? VALUES : spread), putLongs(arena, new long[] {stride}), y,
                            putLongs(arena, new long[] {stride == 1 ? 1 : 3}));
                    assertEquals(TesseraCpu.TS_OK, status);
                    float[] out = get(y, 3L * n);
                    for (int i = 0; i < n; i++) {
                        assertMatches(op.reference().applyAsDouble(VALUES[i]), out[stride == 1 ? i : 3 * i],
                                op + "(" + VALUES[i] + ") at stride " + stride + " on tier " + tier);
                    }
                }
            }
        }
    }

    /**
     * Every pair of values on an n x n grid, laid out for each of the binary kernels' inner loops: all
     * contiguous; b broadcast along the row (stride 0); a broadcast; a read across rows (stride n).
     */
    private record Layout(String name, float[] a, long[] as, float[] b, long[] bs) {}

    private static List<Layout> layouts() {
        int n = VALUES.length;
        float[] byRow = new float[n * n];
        float[] byColumn = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                byRow[i * n + j] = VALUES[i];
                byColumn[i * n + j] = VALUES[j];
            }
        }
        return List.of(
                new Layout("contiguous", byRow, new long[] {n, 1}, byColumn, new long[] {n, 1}),
                new Layout("b broadcast", byColumn, new long[] {n, 1}, VALUES, new long[] {1, 0}),
                new Layout("a broadcast", VALUES, new long[] {1, 0}, byColumn, new long[] {n, 1}),
                new Layout("a strided", byColumn, new long[] {1, n}, byColumn, new long[] {n, 1}));
    }

    private static float at(float[] values, long[] strides, int i, int j) {
        return values[(int) (i * strides[0] + j * strides[1])];
    }

    @ParameterizedTest
    @MethodSource("tiers")
    void binaryOpsOfSpecialValuesFollowPyTorch(int tier) {
        select(tier);
        int n = VALUES.length;
        for (Binary op : BINARY) {
            for (Layout layout : layouts()) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment y = arena.allocate(4L * n * n);
                    int status = TesseraCpu.ts_binary_f32(op.code(), 2, putLongs(arena, new long[] {n, n}), put(arena, layout.a()),
                            putLongs(arena, layout.as()), put(arena, layout.b()), putLongs(arena, layout.bs()), y,
                            putLongs(arena, new long[] {n, 1}));
                    assertEquals(TesseraCpu.TS_OK, status);
                    float[] out = get(y, (long) n * n);
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < n; j++) {
                            float p = at(layout.a(), layout.as(), i, j);
                            float q = at(layout.b(), layout.bs(), i, j);
                            assertMatches(op.reference().applyAsDouble(p, q), out[i * n + j],
                                    op + "(" + p + ", " + q + ") " + layout.name() + " on tier " + tier);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("tiers")
    void comparisonsOfSpecialValuesAreIeee(int tier) {
        select(tier);
        int n = VALUES.length;
        for (Binary op : COMPARE) {
            for (Layout layout : layouts()) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment y = arena.allocate((long) n * n);
                    int status = TesseraCpu.ts_compare_f32(op.code(), 2, putLongs(arena, new long[] {n, n}), put(arena, layout.a()),
                            putLongs(arena, layout.as()), put(arena, layout.b()), putLongs(arena, layout.bs()), y,
                            putLongs(arena, new long[] {n, 1}));
                    assertEquals(TesseraCpu.TS_OK, status);
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < n; j++) {
                            float p = at(layout.a(), layout.as(), i, j);
                            float q = at(layout.b(), layout.bs(), i, j);
                            assertEquals((int) op.reference().applyAsDouble(p, q), y.get(JAVA_BYTE, (long) i * n + j),
                                    op + "(" + p + ", " + q + ") " + layout.name() + " on tier " + tier);
                        }
                    }
                }
            }
        }
    }
}
