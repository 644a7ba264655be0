package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ReduceAndMatmulTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    static Stream<Arguments> reductions() {
        return Stream.of(
                Arguments.of(new long[] {}, new int[] {}),
                Arguments.of(new long[] {1}, new int[] {0}),
                Arguments.of(new long[] {7}, new int[] {}),
                Arguments.of(new long[] {3, 5}, new int[] {0}),
                Arguments.of(new long[] {3, 5}, new int[] {1}),
                Arguments.of(new long[] {2, 3, 4}, new int[] {0, 2}),
                Arguments.of(new long[] {2, 3, 4}, new int[] {-1}),
                Arguments.of(new long[] {4, 1, 3, 2}, new int[] {1, 3}),
                Arguments.of(new long[] {1031, 257}, new int[] {0}),
                Arguments.of(new long[] {257, 1031}, new int[] {1}),
                Arguments.of(new long[] {100_003}, new int[] {0}),
                Arguments.of(new long[] {0, 3}, new int[] {0}));
    }

    @ParameterizedTest(name = "sum {0} over {1}")
    @MethodSource("reductions")
    void sumAndMeanMatchReference(long[] shape, int[] dims) {
        SplittableRandom rng = new SplittableRandom(shape.length * 13L + dims.length);
        Ref x = Ref.random(rng, -2, 2, shape);
        for (boolean keep : new boolean[] {false, true}) {
            OpCheck.forward("sum", new Ref[] {x}, t -> t[0].sum(keep, dims), r -> r[0].reduce(dims, keep, 0, Double::sum), 1e-5);
            long count = 1;
            for (int d : Shapes.reduceDims(dims, shape.length)) {
                count *= shape[d];
            }
            double scale = 1.0 / count;
            OpCheck.forward("mean", new Ref[] {x}, t -> t[0].mean(keep, dims),
                    r -> r[0].reduce(dims, keep, 0, Double::sum).map(v -> v * scale), 1e-5);
        }
    }

    @ParameterizedTest(name = "max/min {0} over {1}")
    @MethodSource("reductions")
    void maxMinArgmaxMatchReference(long[] shape, int[] dims) {
        if (Shapes.numel(shape) == 0) {
            try (TensorScope scope = TensorScope.open()) {
                Tensor empty = Tensor.zeros(shape);
                var e = assertThrows(IllegalArgumentException.class, () -> empty.max(false, dims));
                assertTrue(e.getMessage().contains("empty dim"), e.getMessage());
            }
            return;
        }
        SplittableRandom rng = new SplittableRandom(shape.length * 17L + dims.length);
        Ref x = Ref.random(rng, -2, 2, shape);
        OpCheck.forward("max", new Ref[] {x}, t -> t[0].max(false, dims),
                r -> r[0].reduce(dims, false, Double.NEGATIVE_INFINITY, Math::max), 0);
        OpCheck.forward("min", new Ref[] {x}, t -> t[0].min(true, dims),
                r -> r[0].reduce(dims, true, Double.POSITIVE_INFINITY, Math::min), 0);
        if (shape.length > 0 && dims.length == 1) {
            int d = dims[0] < 0 ? dims[0] + shape.length : dims[0];
            try (TensorScope scope = TensorScope.open()) {
                long[] arg = x.rounded().tensor().argmax(d, false).toLongArray();
                Ref max = x.rounded().reduce(dims, false, Double.NEGATIVE_INFINITY, Math::max);
                long stride = Shapes.contiguousStrides(shape)[d];
                for (int o = 0; o < arg.length; o++) {
                    long[] outer = Ref.unravel(o, max.shape());
                    long[] index = new long[shape.length];
                    for (int i = 0, j = 0; i < shape.length; i++) {
                        index[i] = i == d ? arg[o] : outer[j++];
                    }
                    assertEquals(max.data()[o], x.rounded().at(index), "argmax points at the maximum");
                    assertTrue(stride > 0);
                }
            }
        }
    }

    @Test
    void reductionGradients() {
        SplittableRandom rng = new SplittableRandom(5);
        Ref x = Ref.random(rng, -2, 2, 3, 4, 5);
        OpCheck.gradient("sum", new Ref[] {x}, t -> t[0].sum(false, 0, 2),
                r -> r[0].reduce(new int[] {0, 2}, false, 0, Double::sum), 1e-4, rng);
        OpCheck.gradient("mean", new Ref[] {x}, t -> t[0].mean(true, 1),
                r -> r[0].reduce(new int[] {1}, true, 0, Double::sum).map(v -> v / 4), 1e-4, rng);
        OpCheck.gradient("max", new Ref[] {x}, t -> t[0].max(false, 1),
                r -> r[0].reduce(new int[] {1}, false, Double.NEGATIVE_INFINITY, Math::max), 1e-4, rng);
        OpCheck.gradient("min", new Ref[] {x}, t -> t[0].min(false),
                r -> r[0].reduce(new int[] {}, false, Double.POSITIVE_INFINITY, Math::min), 1e-4, rng);
        OpCheck.gradient("sumSquares", new Ref[] {x}, t -> t[0].sumSquares(true, 0),
                r -> r[0].map(v -> v * v).reduce(new int[] {0}, true, 0, Double::sum), 1e-4, rng);
    }

    @Test
    void maxPropagatesNaNAndSumsAccumulateInDouble() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor t = Tensor.of(new float[] {1, Float.NaN, 3}, 3);
            assertTrue(Double.isNaN(t.max(false).item()));
            assertEquals(1, t.argmax(0, false).toLongArray()[0]);
            // 2^24 + 1 ones: a float accumulator would stop at 2^24
            Tensor ones = Tensor.ones((1 << 24) + 1);
            assertEquals((1 << 24) + 1, ones.sum().item(), 2.0);
        }
    }

    static Stream<Arguments> matmulShapes() {
        return Stream.of(
                Arguments.of(new long[] {1, 1}, new long[] {1, 1}),
                Arguments.of(new long[] {7, 13}, new long[] {13, 5}),
                Arguments.of(new long[] {3, 0}, new long[] {0, 4}),
                Arguments.of(new long[] {0, 3}, new long[] {3, 4}),
                Arguments.of(new long[] {13}, new long[] {13, 5}),
                Arguments.of(new long[] {7, 13}, new long[] {13}),
                Arguments.of(new long[] {2, 3, 7, 5}, new long[] {5, 4}),
                Arguments.of(new long[] {2, 1, 7, 5}, new long[] {3, 5, 4}),
                Arguments.of(new long[] {4, 67, 31}, new long[] {4, 31, 29}),
                Arguments.of(new long[] {131, 257}, new long[] {257, 67}));
    }

    @ParameterizedTest(name = "{0} @ {1}")
    @MethodSource("matmulShapes")
    void matmulMatchesReference(long[] a, long[] b) {
        SplittableRandom rng = new SplittableRandom(a.length * 100L + b.length);
        OpCheck.forward("matmul", new Ref[] {Ref.random(rng, -1, 1, a), Ref.random(rng, -1, 1, b)},
                t -> t[0].matmul(t[1]), r -> refMatmul(r[0], r[1]), 1e-5);
    }

    /** torch.matmul's promotion of 1-D operands, on the reference. */
    static Ref refMatmul(Ref a, Ref b) {
        Ref a2 = a.shape().length == 1 ? new Ref(new long[] {1, a.shape()[0]}, a.data()) : a;
        Ref b2 = b.shape().length == 1 ? new Ref(new long[] {b.shape()[0], 1}, b.data()) : b;
        Ref y = Ref.matmul(a2, b2);
        long[] s = y.shape();
        if (a.shape().length == 1) {
            s = java.util.Arrays.copyOfRange(s, 0, s.length - 2 + 1);
            s[s.length - 1] = y.shape()[y.shape().length - 1];
        }
        if (b.shape().length == 1) {
            s = java.util.Arrays.copyOf(s, s.length - 1);
        }
        return new Ref(s, y.data());
    }

    @Test
    void matmulOfTransposedAndSlicedViewsNeedsNoCopyAndIsRight() {
        SplittableRandom rng = new SplittableRandom(21);
        Ref a = Ref.random(rng, -1, 1, 9, 6);
        Ref b = Ref.random(rng, -1, 1, 5, 9);
        // a^T [6, 9] @ b^T [9, 5]: both column-major views
        OpCheck.forward("matmul of transposes", new Ref[] {a, b}, t -> t[0].t().matmul(t[1].t()),
                r -> Ref.matmul(transpose(r[0]), transpose(r[1])), 1e-5);
        // one row times a transposed matrix, and a transposed matrix times one column: the GEMV paths
        OpCheck.forward("row @ transposed", new Ref[] {Ref.random(rng, -1, 1, 1, 9), b}, t -> t[0].matmul(t[1].t()),
                r -> Ref.matmul(r[0], transpose(r[1])), 1e-5);
        OpCheck.forward("transposed @ column", new Ref[] {a, Ref.random(rng, -1, 1, 9, 1)}, t -> t[0].t().matmul(t[1]),
                r -> Ref.matmul(transpose(r[0]), r[1]), 1e-5);
        OpCheck.forward("row of a column slice @ matrix", new Ref[] {a, Ref.random(rng, -1, 1, 9, 4)},
                t -> t[0].t().slice(0, 2, 3).matmul(t[1]), r -> Ref.matmul(rowOf(transpose(r[0]), 2), r[1]), 1e-5);
        // a row slice with a row stride larger than its width
        OpCheck.forward("matmul of column slice", new Ref[] {a, Ref.random(rng, -1, 1, 4, 3)},
                t -> t[0].slice(1, 1, 5).matmul(t[1]), r -> Ref.matmul(columns(r[0], 1, 5), r[1]), 1e-5);
    }

    private static Ref transpose(Ref r) {
        long rows = r.shape()[0];
        long cols = r.shape()[1];
        double[] out = new double[r.size()];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[(int) (j * rows + i)] = r.data()[(int) (i * cols + j)];
            }
        }
        return new Ref(new long[] {cols, rows}, out);
    }

    private static Ref rowOf(Ref r, int row) {
        int cols = (int) r.shape()[1];
        return new Ref(new long[] {1, cols}, java.util.Arrays.copyOfRange(r.data(), row * cols, (row + 1) * cols));
    }

    private static Ref columns(Ref r, int from, int to) {
        int rows = (int) r.shape()[0];
        int cols = (int) r.shape()[1];
        double[] out = new double[rows * (to - from)];
        for (int i = 0; i < rows; i++) {
            for (int j = from; j < to; j++) {
                out[i * (to - from) + j - from] = r.data()[i * cols + j];
            }
        }
        return new Ref(new long[] {rows, to - from}, out);
    }

    @Test
    void matmulGradients() {
        SplittableRandom rng = new SplittableRandom(8);
        OpCheck.gradient("matmul 2-D", new Ref[] {Ref.random(rng, -1, 1, 3, 4), Ref.random(rng, -1, 1, 4, 5)},
                t -> t[0].matmul(t[1]), r -> Ref.matmul(r[0], r[1]), 1e-4, rng);
        OpCheck.gradient("matmul batched, broadcast", new Ref[] {Ref.random(rng, -1, 1, 2, 1, 3, 4), Ref.random(rng, -1, 1, 3, 4, 2)},
                t -> t[0].matmul(t[1]), r -> Ref.matmul(r[0], r[1]), 1e-4, rng);
        OpCheck.gradient("matmul N-D @ 2-D", new Ref[] {Ref.random(rng, -1, 1, 2, 3, 4), Ref.random(rng, -1, 1, 4, 5)},
                t -> t[0].matmul(t[1]), r -> Ref.matmul(r[0], r[1]), 1e-4, rng);
    }

    @Test
    void matmulShapeErrorsNameBothOperands() {
        try (TensorScope scope = TensorScope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(2, 3).matmul(Tensor.zeros(4, 5)));
            assertTrue(e.getMessage().contains("f32[2, 3] on cpu @ f32[4, 5] on cpu"), e.getMessage());
            assertArrayEquals(new long[] {2, 5}, Tensor.zeros(2, 3).matmul(Tensor.zeros(3, 5)).shape());
        }
    }
}
