package io.tessera.engine;

import static io.tessera.engine.ConformanceTargets.ACCUMULATED;
import static io.tessera.engine.ConformanceTargets.BF16;
import static io.tessera.engine.ConformanceTargets.EXACT;
import static io.tessera.engine.ConformanceTargets.F16;
import static io.tessera.engine.ConformanceTargets.GEMM;
import static io.tessera.engine.ConformanceTargets.TRANSCENDENTAL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Backend contract, op by op, on every device of {@link ConformanceTargets}: each op runs on device
 * tensors made from float64 references and is compared with the reference (tolerances per dtype there).
 * Shapes include the awkward ones: empty, one element, primes, and non-contiguous views (transposes,
 * strided slices, broadcasts). This class covers memory, copies, elementwise ops, reductions and GEMM;
 * {@link BackendConformanceNnTest} the rest but the masked optimizer steps, which are
 * {@link BackendConformanceMaskedOptimTest}'s; {@link #everyBackendOpIsCovered} checks that every op has a test.
 */
class BackendConformanceTest {
    private static final long[][] SHAPES = {{}, {0}, {1}, {7}, {3, 5}, {2, 3, 4}, {0, 3}, {1031}};

    static List<ConformanceTargets> targets() {
        return ConformanceTargets.all();
    }

    /**
     * Every public instance method the Backend type declares (interface methods, or an abstract class's
     * public entry points; not its protected hooks nor Object's methods) is named by some conformance
     * test's {@link Covers}, and every name there is such a method. The memory methods (allocate, write,
     * read, synchronize, device) count too: the round-trip test checks them. (Should the reflection find
     * nothing, every covered name is unknown, so the test cannot pass vacuously.)
     */
    @Test
    void everyBackendOpIsCovered() {
        Set<String> ops = Arrays.stream(Backend.class.getDeclaredMethods())
                .filter(m -> Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers()) && !m.isSynthetic())
                .filter(m -> !overridesObject(m))
                .map(Method::getName)
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> covered = Stream.of(BackendConformanceTest.class, BackendConformanceNnTest.class,
                        BackendConformanceMaskedOptimTest.class)
                .flatMap(c -> Arrays.stream(c.getDeclaredMethods()))
                .filter(m -> m.isAnnotationPresent(Covers.class))
                .flatMap(m -> Arrays.stream(m.getAnnotation(Covers.class).value()))
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> uncovered = new TreeSet<>(ops);
        uncovered.removeAll(covered);
        assertEquals(Set.of(), uncovered, "Backend ops without a conformance test (@Covers)");
        Set<String> unknown = new TreeSet<>(covered);
        unknown.removeAll(ops);
        assertEquals(Set.of(), unknown, "@Covers names that are not Backend ops");
    }

    private static boolean overridesObject(Method m) {
        try {
            Object.class.getMethod(m.getName(), m.getParameterTypes());
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    // ---- memory and transfers -----------------------------------------------------------------

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"allocate", "write", "read", "synchronize", "device"})
    void everyDtypeRoundTripsThroughTheDevice(ConformanceTargets t) {
        t.run(() -> {
            for (DType dtype : DType.values()) {
                for (long[] shape : SHAPES) {
                    int bytes = (int) (Shapes.numel(shape) * dtype.byteSize());
                    byte[] data = new byte[bytes];
                    new SplittableRandom(bytes).nextBytes(data);
                    Tensor host = Tensor.ofBytes(data, dtype, shape);
                    Tensor device = t.on(host);
                    device.backend().synchronize();
                    assertEquals(t.device(), device.device());
                    assertEquals(t.device(), device.backend().device());
                    assertArrayEquals(data, device.toByteArray(), dtype + Arrays.toString(shape));
                    assertArrayEquals(data, device.to(Device.CPU).toByteArray(), dtype + Arrays.toString(shape));
                }
            }
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    void aClosedTensorThrowsOnUse(ConformanceTargets t) {
        t.run(() -> {
            Tensor x = t.on(Tensor.of(new float[] {1, 2}, 2));
            x.close();
            assertTrue(x.isClosed());
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, x::toFloatArray);
            x.close(); // idempotent
        });
    }

    // ---- copy and fill --------------------------------------------------------------------------

    @ParameterizedTest
    @MethodSource("targets")
    @Covers("copy")
    void copyConvertsEveryDtypePairThroughStridedViews(ConformanceTargets t) {
        t.run(() -> {
            // integers every dtype holds exactly (bf16 has 8 significant bits), some beyond i8 and u8 to saturate
            Ref values = Ref.random(new SplittableRandom(1), -250, 250, 6, 7).map(Math::rint);
            Tensor x = t.on(values);
            for (DType from : DType.values()) {
                Tensor source = x.to(from).transpose(0, 1).slice(0, 1, 7, 2); // [3, 6] with strides (14, 7)
                for (DType to : DType.values()) {
                    Tensor y = t.empty(to, source.shape());
                    t.backend().copy(source, y);
                    Ref expected = convert(convert(values, DType.F32, from).transposeRef().sliceRows(1, 7, 2), from, to);
                    assertValues(from + "->" + to, expected, y, tolerance(to));
                }
            }
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers("fill")
    void fillWritesEveryDtype(ConformanceTargets t) {
        t.run(() -> {
            for (DType dtype : DType.values()) {
                for (long[] shape : SHAPES) {
                    Tensor y = t.empty(dtype, shape);
                    t.backend().fill(y, 3.7);
                    double expected = dtype.isFloatingPoint() ? 3.7 : dtype == DType.BOOL ? 1 : 3;
                    double[] e = new double[(int) y.numel()];
                    Arrays.fill(e, dtype.isFloatingPoint() ? (float) 3.7 : expected);
                    assertValues("fill " + dtype, new Ref(shape, e), y, tolerance(dtype));
                }
            }
        });
    }

    // ---- elementwise ----------------------------------------------------------------------------

    record Unary(Ops.Unary op, float alpha, DoubleUnaryOperator ref, double lo, double hi, double tolerance) {
        @Override
        public String toString() {
            return op.name();
        }
    }

    static Stream<Arguments> unaryCases() {
        double s2pi = Math.sqrt(2 / Math.PI);
        List<Unary> cases = List.of(
                new Unary(Ops.Unary.NEG, 0, v -> -v, -3, 3, EXACT),
                new Unary(Ops.Unary.EXP, 0, Math::exp, -3, 3, TRANSCENDENTAL),
                new Unary(Ops.Unary.LOG, 0, Math::log, 0.1, 5, TRANSCENDENTAL),
                new Unary(Ops.Unary.SQRT, 0, Math::sqrt, 0.1, 5, EXACT),
                new Unary(Ops.Unary.TANH, 0, Math::tanh, -3, 3, TRANSCENDENTAL),
                new Unary(Ops.Unary.RELU, 0, v -> Math.max(v, 0), -3, 3, EXACT),
                new Unary(Ops.Unary.GELU_TANH, 0, v -> 0.5 * v * (1 + Math.tanh(s2pi * (v + 0.044715 * v * v * v))), -4, 4,
                        TRANSCENDENTAL),
                new Unary(Ops.Unary.GELU_ERF, 0, v -> 0.5 * v * (1 + ElementwiseOpsTest.erf(v / Math.sqrt(2))), -4, 4, TRANSCENDENTAL),
                new Unary(Ops.Unary.SILU, 0, v -> v / (1 + Math.exp(-v)), -4, 4, TRANSCENDENTAL),
                new Unary(Ops.Unary.SIGMOID, 0, v -> 1 / (1 + Math.exp(-v)), -4, 4, TRANSCENDENTAL),
                new Unary(Ops.Unary.ABS, 0, Math::abs, -3, 3, EXACT),
                new Unary(Ops.Unary.RECIPROCAL, 0, v -> 1 / v, 0.5, 3, EXACT),
                new Unary(Ops.Unary.ADD_SCALAR, 1.5f, v -> v + 1.5, -3, 3, EXACT),
                new Unary(Ops.Unary.MUL_SCALAR, -2.5f, v -> v * -2.5, -3, 3, EXACT),
                new Unary(Ops.Unary.POW_SCALAR, 2f, v -> v * v, -3, 3, EXACT),
                new Unary(Ops.Unary.POW_SCALAR, 1.5f, v -> Math.pow(v, 1.5), 0.1, 3, TRANSCENDENTAL),
                new Unary(Ops.Unary.RSUB_SCALAR, 2f, v -> 2 - v, -3, 3, EXACT),
                new Unary(Ops.Unary.RDIV_SCALAR, 2f, v -> 2 / v, 0.5, 3, EXACT),
                new Unary(Ops.Unary.SIN, 0, Math::sin, -3, 3, TRANSCENDENTAL),
                new Unary(Ops.Unary.COS, 0, Math::cos, -3, 3, TRANSCENDENTAL));
        return targets().stream().flatMap(t -> cases.stream().map(c -> Arguments.of(t, c)));
    }

    @ParameterizedTest
    @MethodSource("unaryCases")
    @Covers("unary")
    void unaryMatchesFloat64OnContiguousAndStridedViews(ConformanceTargets t, Unary c) {
        t.run(() -> {
            for (long[] shape : new long[][] {{}, {0}, {1}, {4}, {131}, {5, 7}, {1031}}) {
                Ref x = Ref.random(new SplittableRandom(shape.length), c.lo(), c.hi(), shape).rounded();
                Tensor y = t.empty(DType.F32, shape);
                t.backend().unary(c.op(), c.alpha(), t.on(x), y);
                assertValues(c + Arrays.toString(shape), x.map(c.ref()), y, c.tolerance());
            }
            // contiguous views off the 16-byte boundary (input, output, or both the same way)
            for (int[] offsets : new int[][] {{1, 0}, {0, 3}, {2, 2}}) {
                Ref x = Ref.random(new SplittableRandom(offsets[0]), c.lo(), c.hi(), 131).rounded();
                Tensor y = t.on(new Ref(new long[] {131}, new double[131]), offsets[1]);
                t.backend().unary(c.op(), c.alpha(), t.on(x, offsets[0]), y);
                assertValues(c + " at offsets " + Arrays.toString(offsets), x.map(c.ref()), y, c.tolerance());
            }
            // a transposed input and a strided output
            Ref x = Ref.random(new SplittableRandom(9), c.lo(), c.hi(), 5, 7).rounded();
            Tensor out = t.empty(DType.F32, 7, 10);
            Tensor y = out.slice(1, 0, 10, 2);
            t.backend().unary(c.op(), c.alpha(), t.on(x).t(), y);
            assertValues(c + " strided", x.transposeRef().map(c.ref()), y.contiguous(), c.tolerance());
        });
    }

    /**
     * SiLU, sigmoid and the gradients of SiLU and GELU's tanh form run on a vectorised exp on the CPU: its clamps at the
     * ends of float's range and the specials.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"unary", "binary"})
    void siluAndSigmoidAtTheEndsOfTheRange(ConformanceTargets t) {
        double[] values = {Double.NEGATIVE_INFINITY, -1e4, -150, -104.5, -88.8, -87.3, -20, -1e-30, -0.0, 0, 1e-30, 20, 87.3, 88.8,
            104.5, 150, 1e4, Double.POSITIVE_INFINITY, Double.NaN};
        t.run(() -> {
            Ref x = new Ref(new long[] {values.length}, values).rounded();
            Tensor silu = t.empty(DType.F32, values.length);
            t.backend().unary(Ops.Unary.SILU, 0, t.on(x), silu);
            assertValues("silu", x.map(v -> v / (1 + Math.exp(-v))), silu, TRANSCENDENTAL);
            Tensor sigmoid = t.empty(DType.F32, values.length);
            t.backend().unary(Ops.Unary.SIGMOID, 0, t.on(x), sigmoid);
            assertValues("sigmoid", x.map(v -> 1 / (1 + Math.exp(-v))), sigmoid, TRANSCENDENTAL);
            Ref g = Ref.random(new SplittableRandom(7), -2, 2, values.length).rounded();
            Tensor siluGrad = t.empty(DType.F32, values.length);
            t.backend().binary(Ops.Binary.SILU_GRAD, t.on(x), t.on(g), siluGrad);
            assertValues("silu grad", Ref.zip(x, g, (v, q) -> {
                double s = 1 / (1 + Math.exp(-v));
                return s * (1 + v * (1 - s)) * q;
            }), siluGrad, TRANSCENDENTAL);
            Tensor geluGrad = t.empty(DType.F32, values.length);
            t.backend().binary(Ops.Binary.GELU_TANH_GRAD, t.on(x), t.on(g), geluGrad);
            assertValues("gelu tanh grad", Ref.zip(x, g, (v, q) -> geluTanhGrad(v) * q), geluGrad, TRANSCENDENTAL);
        });
    }

    /** d/dx of 0.5 x (1 + tanh(u)), u = sqrt(2 / pi) (x + 0.044715 x^3), in float64 from the definition. */
    private static double geluTanhGrad(double x) {
        double c = Math.sqrt(2 / Math.PI);
        double t = Math.tanh(c * (x + 0.044715 * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }

    record Binary(Ops.Binary op, DoubleBinaryOperator ref, double tolerance) {
        @Override
        public String toString() {
            return op.name();
        }
    }

    static Stream<Arguments> binaryCases() {
        List<Binary> cases = List.of(
                new Binary(Ops.Binary.ADD, Double::sum, EXACT),
                new Binary(Ops.Binary.SUB, (p, q) -> p - q, EXACT),
                new Binary(Ops.Binary.MUL, (p, q) -> p * q, EXACT),
                new Binary(Ops.Binary.DIV, (p, q) -> p / q, EXACT),
                new Binary(Ops.Binary.MAXIMUM, Math::max, EXACT),
                new Binary(Ops.Binary.MINIMUM, Math::min, EXACT),
                new Binary(Ops.Binary.POW, Math::pow, TRANSCENDENTAL),
                new Binary(Ops.Binary.RELU_GRAD, (p, q) -> p > 0 ? q : 0, EXACT),
                new Binary(Ops.Binary.SIGMOID_GRAD, (p, q) -> p * (1 - p) * q, TRANSCENDENTAL),
                new Binary(Ops.Binary.TANH_GRAD, (p, q) -> (1 - p * p) * q, TRANSCENDENTAL),
                new Binary(Ops.Binary.SILU_GRAD, (p, q) -> {
                    double s = 1 / (1 + Math.exp(-p));
                    return s * (1 + p * (1 - s)) * q;
                }, TRANSCENDENTAL),
                new Binary(Ops.Binary.GELU_TANH_GRAD, (p, q) -> geluTanhGrad(p) * q, TRANSCENDENTAL),
                new Binary(Ops.Binary.GELU_ERF_GRAD, (p, q) -> {
                    double phi = 0.5 * (1 + ElementwiseOpsTest.erf(p / Math.sqrt(2)));
                    return (phi + p * Math.exp(-0.5 * p * p) / Math.sqrt(2 * Math.PI)) * q;
                }, TRANSCENDENTAL));
        return targets().stream().flatMap(t -> cases.stream().map(c -> Arguments.of(t, c)));
    }

    @ParameterizedTest
    @MethodSource("binaryCases")
    @Covers("binary")
    void binaryBroadcastsThroughStrideZero(ConformanceTargets t, Binary c) {
        t.run(() -> {
            long[][][] pairs = {{{}, {}}, {{0}, {1}}, {{4}, {4}}, {{13}, {13}}, {{1031}, {1031}}, {{4, 1}, {1, 7}}, {{2, 3, 5}, {5}}};
            for (long[][] pair : pairs) {
                Ref a = Ref.random(new SplittableRandom(3), 0.5, 2, pair[0]).rounded();
                Ref b = Ref.random(new SplittableRandom(4), -2, 2, pair[1]).rounded();
                long[] shape = Shapes.broadcast(pair[0], pair[1], "test");
                Tensor y = t.empty(DType.F32, shape);
                t.backend().binary(c.op(), t.on(a).expand(shape), t.on(b).expand(shape), y);
                assertValues(c + Arrays.toString(shape), Ref.zip(a, b, c.ref()), y, c.tolerance());
            }
            // one input off the 16-byte boundary
            Ref a = Ref.random(new SplittableRandom(3), 0.5, 2, 131).rounded();
            Ref b = Ref.random(new SplittableRandom(4), -2, 2, 131).rounded();
            Tensor y = t.empty(DType.F32, 131);
            t.backend().binary(c.op(), t.on(a, 1), t.on(b), y);
            assertValues(c + " at offset 1", Ref.zip(a, b, c.ref()), y, c.tolerance());
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"compare", "where"})
    void compareAndWhereMatchFloat64(ConformanceTargets t) {
        t.run(() -> {
            Ref a = Ref.random(new SplittableRandom(5), -2, 2, 6, 1).map(Math::rint);
            Ref b = Ref.random(new SplittableRandom(6), -2, 2, 1, 11).map(Math::rint);
            long[] shape = {6, 11};
            DoubleBinaryOperator[] refs = {(p, q) -> p == q ? 1 : 0, (p, q) -> p != q ? 1 : 0, (p, q) -> p < q ? 1 : 0,
                (p, q) -> p <= q ? 1 : 0, (p, q) -> p > q ? 1 : 0, (p, q) -> p >= q ? 1 : 0};
            Tensor da = t.on(a).expand(shape);
            Tensor db = t.on(b).expand(shape);
            for (Ops.Compare op : Ops.Compare.values()) {
                Tensor y = t.empty(DType.BOOL, shape);
                t.backend().compare(op, da, db, y);
                assertValues(op.name(), Ref.zip(a, b, refs[op.code]), y, EXACT);
            }
            Tensor cond = t.empty(DType.BOOL, shape);
            t.backend().compare(Ops.Compare.GT, da, db, cond);
            Tensor y = t.empty(DType.F32, shape);
            t.backend().where(cond, da, db, y);
            assertValues("where", Ref.zip(a, b, Math::max), y, EXACT);
            // contiguous: four elements a lane on CUDA, then the tail; and an input off the 16-byte boundary
            for (int n : new int[] {4, 1031}) {
                for (int offset : new int[] {0, 1}) {
                    Ref p = Ref.random(new SplittableRandom(n), -2, 2, n).map(Math::rint);
                    Ref q = Ref.random(new SplittableRandom(n + 1), -2, 2, n).map(Math::rint);
                    Tensor dp = t.on(p, offset);
                    Tensor dq = t.on(q);
                    Tensor c = t.empty(DType.BOOL, n);
                    t.backend().compare(Ops.Compare.LT, dp, dq, c);
                    assertValues("lt [" + n + "] at offset " + offset, Ref.zip(p, q, (u, v) -> u < v ? 1 : 0), c, EXACT);
                    Tensor z = t.empty(DType.F32, n);
                    t.backend().where(c, dp, dq, z);
                    assertValues("where [" + n + "] at offset " + offset, Ref.zip(p, q, Math::min), z, EXACT);
                }
            }
        });
    }

    // ---- reductions and GEMM --------------------------------------------------------------------

    static Stream<Arguments> reduceCases() {
        int[][] dimSets = {{0}, {1}, {2}, {0, 2}, {0, 1, 2}};
        return targets().stream().flatMap(t -> Arrays.stream(Ops.Reduce.values()).flatMap(op -> Arrays.stream(dimSets)
                .map(dims -> Arguments.of(t, op, dims))));
    }

    @ParameterizedTest
    @MethodSource("reduceCases")
    @Covers("reduce")
    void reduceOverAnyDimsOfAPermutedView(ConformanceTargets t, Ops.Reduce op, int[] dims) {
        t.run(() -> {
            Ref x = Ref.random(new SplittableRandom(7), -1, 1, 5, 3, 7).map(v -> Math.rint(v * 8) / 8); // ties for argmax
            Ref permuted = x.permuteRef(1, 2, 0); // [3, 7, 5]
            Tensor view = t.on(x).permute(1, 2, 0);
            if (op == Ops.Reduce.ARGMAX && dims.length != 1) {
                return; // argmax takes one dim
            }
            assertReduces(t, op, permuted, view, dims);
        });
    }

    /** x (on the device as view) reduced over dims by op, against the float64 reference. */
    private static void assertReduces(ConformanceTargets t, Ops.Reduce op, Ref x, Tensor view, int[] dims) {
        Ref expected = switch (op) {
            case SUM -> x.reduce(dims, false, 0, Double::sum);
            case SUMSQ -> x.map(v -> v * v).reduce(dims, false, 0, Double::sum);
            case MAX -> x.reduce(dims, false, Double.NEGATIVE_INFINITY, Math::max);
            case MIN -> x.reduce(dims, false, Double.POSITIVE_INFINITY, Math::min);
            case ARGMAX -> x.argmaxRef(dims[0]);
        };
        Tensor y = t.empty(op == Ops.Reduce.ARGMAX ? DType.I64 : DType.F32, expected.shape());
        t.backend().reduce(op, view, dims, y);
        assertValues(op + Arrays.toString(dims) + " of " + view.describe(), expected, y, op == Ops.Reduce.ARGMAX ? EXACT : ACCUMULATED);
    }

    /**
     * At least a warp's worth of outputs that sit next to each other in x while the reduced elements are apart (the CUDA
     * backend's lanes then run over outputs): over leading dims, 40 outputs (a partial second warp), and 66 in two
     * outer dims.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers("reduce")
    void reduceOverLeadingDimsWithManyAdjacentOutputs(ConformanceTargets t) {
        t.run(() -> {
            long[][] shapes = {{9, 40}, {4, 6, 10}, {3, 5, 33}, {2, 7, 66}};
            int[][] dimSets = {{0}, {1}, {0, 1}, {1}};
            for (int c = 0; c < shapes.length; c++) {
                Ref x = Ref.random(new SplittableRandom(c), -1, 1, shapes[c]).map(v -> Math.rint(v * 8) / 8); // ties for argmax
                for (Ops.Reduce op : Ops.Reduce.values()) {
                    if (op != Ops.Reduce.ARGMAX || dimSets[c].length == 1) {
                        assertReduces(t, op, x, t.on(x), dimSets[c]);
                    }
                }
            }
        });
    }

    /** Long rows: the CUDA backend splits each output over several blocks and merges float64 partials. */
    @ParameterizedTest
    @MethodSource("targets")
    void reduceOfLongRowsAndNaN(ConformanceTargets t) {
        t.run(() -> {
            Ref x = Ref.random(new SplittableRandom(8), -1, 1, 2, 20_011).rounded();
            for (Ops.Reduce op : new Ops.Reduce[] {Ops.Reduce.SUM, Ops.Reduce.MAX, Ops.Reduce.ARGMAX}) {
                Tensor y = t.empty(op == Ops.Reduce.ARGMAX ? DType.I64 : DType.F32, 2);
                t.backend().reduce(op, t.on(x), new int[] {1}, y);
                Ref expected = op == Ops.Reduce.SUM ? x.reduce(new int[] {1}, false, 0, Double::sum)
                        : op == Ops.Reduce.MAX ? x.reduce(new int[] {1}, false, Double.NEGATIVE_INFINITY, Math::max) : x.argmaxRef(1);
                assertValues(op + " long rows", expected, y, op == Ops.Reduce.SUM ? ACCUMULATED : EXACT);
            }
            double[] withNaN = x.data().clone();
            withNaN[20_011 + 77] = Double.NaN;
            withNaN[20_011 + 5000] = Double.NaN;
            Tensor y = t.empty(DType.I64, 2);
            t.backend().reduce(Ops.Reduce.ARGMAX, t.on(new Ref(x.shape(), withNaN)), new int[] {1}, y);
            assertEquals(77, y.toLongArray()[1], "the first NaN wins");
            Tensor m = t.empty(DType.F32, 2);
            t.backend().reduce(Ops.Reduce.MIN, t.on(new Ref(x.shape(), withNaN)), new int[] {1}, m);
            assertTrue(Float.isNaN(m.toFloatArray()[1]));
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers("matmul")
    void matmulOfRowAndColumnMajorViewsWithBatchBroadcast(ConformanceTargets t) {
        t.run(() -> {
            // includes a few rows times a weight with k and n off the kernels' tile sizes (gemm_small.c, gemv.c), row counts
            // on both sides of CpuBackend.smallRows() with either OpenBLAS kernel set, and
            // up to 16 rows (gemv.c's passes of 4, 2 and 1 rows of x) times weights big enough for the CPU's thread pool
            int[][] mkn = {{1, 1, 1}, {5, 7, 3}, {1, 13, 11}, {13, 11, 1}, {4, 0, 3}, {0, 3, 2}, {17, 33, 9}, {2, 37, 5},
                    {8, 1031, 13}, {16, 16, 4}, {3, 5, 7}, {40, 19, 23}, {41, 19, 23}, {64, 33, 9}, {65, 7, 5}, {1, 263, 1031},
                    {8, 131, 257}, {3, 61, 4099}, {4, 129, 257}, {6, 64, 301}, {7, 33, 9}, {16, 131, 257}, {13, 67, 301},
                    {9, 33, 9}};
            for (int[] s : mkn) {
                Ref a = Ref.random(new SplittableRandom(s[0]), -1, 1, 2, s[0], s[1]).rounded();
                Ref b = Ref.random(new SplittableRandom(s[2]), -1, 1, s[2], s[1]).rounded(); // used transposed
                Ref bt = b.transposeRef();
                long[] yShape = {2, s[0], s[2]};
                Tensor y = t.empty(DType.F32, yShape);
                Tensor db = t.on(b).t().unsqueeze(0).expand(2, s[1], s[2]); // column-major, batch stride 0
                t.backend().matmul(t.on(a), db, y);
                assertValues("matmul " + Arrays.toString(s), Ref.matmul(a, bt), y, GEMM);
                Tensor yr = t.empty(DType.F32, yShape);
                t.backend().matmul(t.on(a), t.on(bt).unsqueeze(0).expand(2, s[1], s[2]), yr); // row-major weight
                assertValues("matmul, row-major right " + Arrays.toString(s), Ref.matmul(a, bt), yr, GEMM);
                Tensor yt = t.empty(DType.F32, 2, s[2], s[0]);
                t.backend().matmul(db.transpose(1, 2), t.on(a).transpose(1, 2), yt); // both transposed
                assertValues("matmul^T " + Arrays.toString(s), Ref.matmul(a, bt).permuteRef(0, 2, 1), yt, GEMM);
            }
        });
    }

    /**
     * BF16 and F16 operands, summed in F32 and rounded once to the dtype (on CUDA: cuBLASLt with CUBLAS_COMPUTE_32F), as
     * row- and column-major views with a broadcast batch, against float64 sums of the rounded inputs.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers("matmul")
    void matmulOfHalfPrecisionOperands(ConformanceTargets t) {
        t.run(() -> {
            int[][] mkn = {{1, 1, 1}, {5, 7, 3}, {4, 0, 3}, {0, 3, 2}, {17, 33, 9}, {2, 37, 5}, {16, 16, 4}};
            for (DType type : new DType[] {DType.BF16, DType.F16}) {
                for (int[] s : mkn) {
                    Tensor a = t.on(Ref.random(new SplittableRandom(s[0]), -1, 1, 2, s[0], s[1])).to(type);
                    Tensor b = t.on(Ref.random(new SplittableRandom(s[2]), -1, 1, s[2], s[1])).to(type); // used transposed
                    Ref expected = Ref.matmul(Ref.of(a), Ref.of(b).transposeRef());
                    Tensor db = b.t().unsqueeze(0).expand(2, s[1], s[2]); // column-major, batch stride 0
                    Tensor y = t.empty(type, 2, s[0], s[2]);
                    t.backend().matmul(a, db, y);
                    assertValues(type + " matmul " + Arrays.toString(s), expected, y, tolerance(type));
                    Tensor yt = t.empty(type, 2, s[2], s[0]);
                    t.backend().matmul(db.transpose(1, 2), a.transpose(1, 2), yt); // both transposed
                    assertValues(type + " matmul^T " + Arrays.toString(s), expected.permuteRef(0, 2, 1), yt, tolerance(type));
                }
            }
            Tensor mixed = t.empty(DType.BF16, 2, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> t.backend().matmul(t.empty(DType.F32, 2, 2), mixed, mixed));
            assertTrue(e.getMessage().contains("must be f32"), e.getMessage());
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers("sampledMatmul")
    void sampledMatmulGivesTheListedEntriesOfATransposedTimesB(ConformanceTargets t) {
        t.run(() -> {
            // r, m, n: by density (none, 0.3, all), where CUDA mostly transposes a and b first; the last shape has more
            // entries than the CUDA grid has warps, so warps take several in turn
            int[][] rmn = {{0, 3, 4}, {1, 1, 1}, {5, 7, 3}, {13, 11, 17}, {3, 2, 1031}, {129, 5, 6}, {7, 1000, 1000}};
            int seed = 0;
            for (int[] s : rmn) {
                for (double density : new double[] {0, 0.3, 1}) {
                    SplittableRandom rng = new SplittableRandom(++seed);
                    long[] entries = LongStream.range(0, (long) s[1] * s[2]).filter(i -> rng.nextDouble() < density).toArray();
                    checkSampledMatmul(t, s, entries, rng, "density " + density);
                }
            }
            // by count (1, 13, 1009), sorted random entries of larger shapes and of a single row or column: CUDA reads a and
            // b in place while 7 k <= m + n, transposed beyond
            int[][] sparse = {{7, 1000, 1000}, {1, 600, 700}, {7, 61, 1}, {64, 1, 300}};
            for (int[] s : sparse) {
                for (int count : new int[] {1, 13, 1009}) {
                    SplittableRandom rng = new SplittableRandom(++seed);
                    long[] entries = rng.longs(0, (long) s[1] * s[2]).distinct().limit(Math.min(count, s[1] * s[2])).sorted().toArray();
                    checkSampledMatmul(t, s, entries, rng, entries.length + " entries");
                }
            }
        });
    }

    /** sampledMatmul of random a [r, m] and b [r, n] (rmn) at the entries, against float64 loops, with I32 and I64 indices. */
    private static void checkSampledMatmul(ConformanceTargets t, int[] rmn, long[] entries, SplittableRandom rng, String what) {
        int r = rmn[0];
        int m = rmn[1];
        int n = rmn[2];
        Ref a = Ref.random(rng, -1, 1, r, m).rounded();
        Ref b = Ref.random(rng, -1, 1, r, n).rounded();
        double[] expected = new double[entries.length];
        for (int j = 0; j < entries.length; j++) {
            int row = (int) (entries[j] / n);
            int col = (int) (entries[j] % n);
            for (int u = 0; u < r; u++) {
                expected[j] += a.data()[u * m + row] * b.data()[u * n + col];
            }
        }
        for (DType indexType : new DType[] {DType.I32, DType.I64}) {
            Tensor y = t.empty(DType.F32, entries.length);
            t.backend().sampledMatmul(t.on(a), t.on(b), t.on(Tensor.of(entries, entries.length).to(indexType)), y);
            assertValues("sampledMatmul " + Arrays.toString(rmn) + " " + what + " " + indexType,
                    new Ref(new long[] {entries.length}, expected), y, GEMM);
        }
    }

    // ---- helpers --------------------------------------------------------------------------------

    static double tolerance(DType dtype) {
        return switch (dtype) {
            case BF16 -> BF16;
            case F16 -> F16;
            default -> EXACT;
        };
    }

    /**
     * Values of dtype {@code from} as stored in {@code to}: floats rounded (bf16/f16 to within their
     * tolerance); floats to integers saturate, integers to narrower integers wrap (as PyTorch).
     */
    static Ref convert(Ref values, DType from, DType to) {
        boolean wrap = !from.isFloatingPoint();
        return values.map(v -> switch (to) {
            case F32, BF16, F16 -> (float) v;
            case F64 -> v;
            case I8 -> wrap ? (byte) (long) v : Math.clamp((long) v, -128, 127);
            case U8 -> wrap ? (long) v & 0xFF : Math.clamp((long) v, 0, 255);
            case BOOL -> v != 0 ? 1 : 0;
            case I16 -> wrap ? (short) (long) v : Math.clamp((long) v, Short.MIN_VALUE, Short.MAX_VALUE);
            case U16 -> wrap ? (long) v & 0xFFFF : Math.clamp((long) v, 0, 0xFFFF);
            case I32 -> wrap ? (int) (long) v : Math.clamp((long) v, Integer.MIN_VALUE, Integer.MAX_VALUE);
            case U32 -> wrap ? (long) v & 0xFFFF_FFFFL : Math.clamp((long) v, 0, 0xFFFF_FFFFL);
            case I64 -> (long) v;
            case U64 -> wrap && v < 0 ? v + 0x1p64 : Math.max(0, (long) v);
        });
    }

    static void assertValues(String what, Ref expected, Tensor actual, double tolerance) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        Tensor host = actual.to(Device.CPU);
        double[] got = host.dtype() == DType.I64 ? Arrays.stream(host.toLongArray()).asDoubleStream().toArray()
                : toDoubles(host.toFloatArray());
        for (int i = 0; i < got.length; i++) {
            double e = expected.data()[i];
            boolean ok = Double.isNaN(e) ? Double.isNaN(got[i])
                    : tolerance == EXACT ? got[i] == (host.dtype() == DType.I64 ? e : (float) e)
                    : Double.isInfinite(e) ? got[i] == e
                    : Math.abs(got[i] - e) <= tolerance * (1 + Math.abs(e));
            assertTrue(ok, what + " on " + actual.device() + "[" + i + "]: expected " + e + ", got " + got[i]);
        }
    }

    private static double[] toDoubles(float[] values) {
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = values[i];
        }
        return d;
    }
}
