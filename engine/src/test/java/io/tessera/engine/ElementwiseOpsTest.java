package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ElementwiseOpsTest {
    private static final long[][] SHAPES = {{}, {1}, {7}, {3, 5}, {2, 3, 4}, {0, 3}, {40_009}};

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    static double erf(double x) {
        // Numerical Recipes erfc Chebyshev fit: fractional error below 1.2e-7, far below the float tolerance
        double t = 1 / (1 + 0.5 * Math.abs(x));
        double y = 1 - t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? y : -y;
    }

    record UnaryCase(String name, Function<Tensor, Tensor> op, DoubleUnaryOperator ref, double lo, double hi) {
        @Override
        public String toString() {
            return name;
        }
    }

    static List<UnaryCase> unaryCases() {
        return List.of(
                new UnaryCase("neg", Tensor::neg, v -> -v, -3, 3),
                new UnaryCase("exp", Tensor::exp, Math::exp, -3, 3),
                new UnaryCase("log", Tensor::log, Math::log, 0.1, 5),
                new UnaryCase("sqrt", Tensor::sqrt, Math::sqrt, 0.1, 5),
                new UnaryCase("tanh", Tensor::tanh, Math::tanh, -3, 3),
                new UnaryCase("relu", Tensor::relu, v -> Math.max(v, 0), -3, 3),
                new UnaryCase("gelu_tanh", t -> t.gelu(true),
                        v -> 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))), -4, 4),
                new UnaryCase("gelu_erf", t -> t.gelu(false), v -> 0.5 * v * (1 + erf(v / Math.sqrt(2))), -4, 4),
                new UnaryCase("silu", Tensor::silu, v -> v / (1 + Math.exp(-v)), -4, 4),
                new UnaryCase("sigmoid", Tensor::sigmoid, v -> 1 / (1 + Math.exp(-v)), -4, 4),
                new UnaryCase("abs", Tensor::abs, Math::abs, -3, 3),
                new UnaryCase("reciprocal", Tensor::reciprocal, v -> 1 / v, 0.5, 3),
                new UnaryCase("sin", Tensor::sin, Math::sin, -3, 3),
                new UnaryCase("cos", Tensor::cos, Math::cos, -3, 3),
                new UnaryCase("add 2.5", t -> t.add(2.5), v -> v + 2.5, -3, 3),
                new UnaryCase("sub 1.25", t -> t.sub(1.25), v -> v - 1.25, -3, 3),
                new UnaryCase("mul -1.5", t -> t.mul(-1.5), v -> v * -1.5, -3, 3),
                new UnaryCase("div 4", t -> t.div(4), v -> v / 4, -3, 3),
                new UnaryCase("pow 2", t -> t.pow(2), v -> v * v, -3, 3),
                new UnaryCase("pow 1.7", t -> t.pow(1.7), v -> Math.pow(v, 1.7), 0.2, 3),
                new UnaryCase("rsub 1", t -> t.rsub(1), v -> 1 - v, -3, 3),
                new UnaryCase("rdiv 2", t -> t.rdiv(2), v -> 2 / v, 0.5, 3));
    }

    static Stream<Arguments> unaryForward() {
        return unaryCases().stream().flatMap(c -> Stream.of(SHAPES).map(s -> Arguments.of(c, s)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("unaryForward")
    void unaryForwardMatchesFloat64(UnaryCase c, long[] shape) {
        SplittableRandom rng = new SplittableRandom(shape.length * 7L + c.name().hashCode());
        OpCheck.forward(c.name(), new Ref[] {Ref.random(rng, c.lo(), c.hi(), shape)}, t -> c.op().apply(t[0]),
                r -> r[0].map(c.ref()), 2e-6);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("unaryCases")
    void unaryGradientMatchesFiniteDifferences(UnaryCase c) {
        SplittableRandom rng = new SplittableRandom(c.name().hashCode());
        OpCheck.gradient(c.name(), new Ref[] {Ref.random(rng, c.lo(), c.hi(), 3, 7)}, t -> c.op().apply(t[0]),
                r -> r[0].map(c.ref()), 1e-4, rng);
    }

    @Test
    void unaryOnNonContiguousView() {
        SplittableRandom rng = new SplittableRandom(3);
        OpCheck.forward("exp of transposed slice", new Ref[] {Ref.random(rng, -2, 2, 6, 9)},
                t -> t[0].transpose(0, 1).slice(0, 1, 8, 2).exp(),
                r -> transposeSlice(r[0]).map(Math::exp), 2e-6);
    }

    /** Reference for [6, 9] -> transpose -> rows 1, 3, 5, 7: a [4, 6] array. */
    private static Ref transposeSlice(Ref r) {
        double[] out = new double[4 * 6];
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 6; j++) {
                out[i * 6 + j] = r.data()[j * 9 + (1 + 2 * i)];
            }
        }
        return new Ref(new long[] {4, 6}, out);
    }

    record BinaryCase(String name, java.util.function.BinaryOperator<Tensor> op, DoubleBinaryOperator ref, double lo, double hi) {
        @Override
        public String toString() {
            return name;
        }
    }

    static List<BinaryCase> binaryCases() {
        return List.of(
                new BinaryCase("add", Tensor::add, Double::sum, -3, 3),
                new BinaryCase("sub", Tensor::sub, (a, b) -> a - b, -3, 3),
                new BinaryCase("mul", Tensor::mul, (a, b) -> a * b, -3, 3),
                new BinaryCase("div", Tensor::div, (a, b) -> a / b, 0.5, 3),
                new BinaryCase("maximum", Tensor::maximum, Math::max, -3, 3),
                new BinaryCase("minimum", Tensor::minimum, Math::min, -3, 3),
                new BinaryCase("pow", Tensor::pow, ElementwiseOpsTest::pow, 0.5, 2));
    }

    /** C's pow (which PyTorch's is): unlike Math.pow, pow(1, y) and pow(-1, +-inf) are 1 even for a NaN y. */
    static double pow(double x, double y) {
        return x == 1 || (x == -1 && Double.isInfinite(y)) ? 1 : Math.pow(x, y);
    }

    private static final long[][][] BROADCASTS = {
        {{}, {}}, {{7}, {7}}, {{3, 1, 5}, {4, 5}}, {{1}, {6}}, {{2, 3}, {}}, {{0, 3}, {1, 3}}, {{5, 1}, {1, 4}}, {{20_011}, {20_011}},
        {{300, 257}, {257}}, {{257, 300}, {257, 1}}};

    static Stream<Arguments> binaryForward() {
        return binaryCases().stream().flatMap(c -> Stream.of(BROADCASTS).map(s -> Arguments.of(c, s[0], s[1])));
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("binaryForward")
    void binaryForwardBroadcastsLikeNumpy(BinaryCase c, long[] a, long[] b) {
        SplittableRandom rng = new SplittableRandom(a.length * 31L + b.length + c.name().hashCode());
        OpCheck.forward(c.name(), new Ref[] {Ref.random(rng, c.lo(), c.hi(), a), Ref.random(rng, c.lo(), c.hi(), b)},
                t -> c.op().apply(t[0], t[1]), r -> Ref.zip(r[0], r[1], c.ref()), 2e-6);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("binaryCases")
    void binaryGradientSumsOverBroadcastDims(BinaryCase c) {
        SplittableRandom rng = new SplittableRandom(c.name().hashCode());
        OpCheck.gradient(c.name(), new Ref[] {Ref.random(rng, c.lo(), c.hi(), 3, 1, 4), Ref.random(rng, c.lo(), c.hi(), 2, 4)},
                t -> c.op().apply(t[0], t[1]), r -> Ref.zip(r[0], r[1], c.ref()), 1e-4, rng);
    }

    @Test
    void comparisonsGiveBoolAndWhereSelects() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor a = Tensor.of(new float[] {1, 2, 3, 4, Float.NaN, -1}, 2, 3);
            Tensor b = Tensor.of(new float[] {2, 2, 2}, 3);
            assertEquals(DType.BOOL, a.gt(b).dtype());
            assertArrayEquals(new int[] {0, 0, 1, 1, 0, 0}, a.gt(b).toIntArray());
            assertArrayEquals(new int[] {0, 1, 0, 0, 0, 0}, a.eq(b).toIntArray());
            assertArrayEquals(new int[] {1, 0, 1, 1, 1, 1}, a.ne(b).toIntArray());
            assertArrayEquals(new int[] {1, 1, 0, 0, 0, 1}, a.le(b).toIntArray());
            assertArrayEquals(new int[] {1, 0, 0, 0, 0, 1}, a.lt(b).toIntArray());
            assertArrayEquals(new int[] {0, 1, 1, 1, 0, 0}, a.ge(b).toIntArray());
            Tensor picked = Tensor.where(a.gt(b), a, b.neg());
            assertArrayEquals(new float[] {-2, -2, 3, 4, -2, -2}, picked.toFloatArray());
        }
    }

    @Test
    void whereGradientFlowsToTheChosenSide() {
        SplittableRandom rng = new SplittableRandom(11);
        Ref mask = Ref.random(rng, -1, 1, 3, 4);
        Function<Ref[], Ref> reference = r -> {
            double[] out = new double[12];
            for (int i = 0; i < 12; i++) {
                out[i] = mask.data()[i] > 0 ? r[0].data()[i] : r[1].data()[i % 4];
            }
            return new Ref(new long[] {3, 4}, out);
        };
        OpCheck.gradient("where", new Ref[] {Ref.random(rng, -2, 2, 3, 4), Ref.random(rng, -2, 2, 4)},
                t -> Tensor.where(mask.tensor().gt(Tensor.zeros()), t[0], t[1]), reference, 1e-4, rng);
    }

    @Test
    void incompatibleShapesAndDtypesAreClearErrors() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor a = Tensor.zeros(2, 3);
            var e = assertThrows(IllegalArgumentException.class, () -> a.add(Tensor.zeros(4)));
            assertTrue(e.getMessage().contains("[2, 3] and [4] cannot be broadcast"), e.getMessage());
            var d = assertThrows(IllegalArgumentException.class, () -> a.add(Tensor.zeros(DType.I32, 3)));
            assertTrue(d.getMessage().contains("needs f32 tensors, got i32[3]"), d.getMessage());
        }
    }
}
