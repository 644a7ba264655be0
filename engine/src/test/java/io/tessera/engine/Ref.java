package io.tessera.engine;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;

/** A plain float64 n-d array for reference implementations in tests: obvious loops, no cleverness. */
record Ref(long[] shape, double[] data) {

    static Ref random(SplittableRandom rng, double lo, double hi, long... shape) {
        double[] d = new double[(int) Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) {
            d[i] = lo + (hi - lo) * rng.nextDouble();
        }
        return new Ref(shape, d);
    }

    static Ref identity(int n) {
        double[] d = new double[n * n];
        for (int i = 0; i < n; i++) {
            d[i * n + i] = 1;
        }
        return new Ref(new long[] {n, n}, d);
    }

    static Ref of(Tensor t) {
        float[] f = t.toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return new Ref(t.shape(), d);
    }

    /** The values rounded to float, as an F32 tensor (the reference then sees exactly the tensor's inputs). */
    Tensor tensor() {
        float[] f = new float[data.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) data[i];
        }
        return Tensor.of(f, shape);
    }

    /** The same values after rounding to float. */
    Ref rounded() {
        double[] d = new double[data.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) data[i];
        }
        return new Ref(shape, d);
    }

    int size() {
        return data.length;
    }

    long[] strides() {
        return Shapes.contiguousStrides(shape);
    }

    double at(long[] index) {
        long[] s = strides();
        long off = 0;
        for (int d = 0; d < index.length; d++) {
            off += index[d] * s[d];
        }
        return data[(int) off];
    }

    static long[] unravel(long flat, long[] shape) {
        long[] index = new long[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            index[d] = shape[d] == 0 ? 0 : flat % shape[d];
            flat = shape[d] == 0 ? 0 : flat / shape[d];
        }
        return index;
    }

    /** Value at an index of a broadcast shape (numpy rules). */
    double broadcastAt(long[] index) {
        long[] own = new long[shape.length];
        int lead = index.length - shape.length;
        for (int d = 0; d < shape.length; d++) {
            own[d] = shape[d] == 1 ? 0 : index[d + lead];
        }
        return at(own);
    }

    Ref map(DoubleUnaryOperator f) {
        double[] d = new double[data.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = f.applyAsDouble(data[i]);
        }
        return new Ref(shape, d);
    }

    static Ref zip(Ref a, Ref b, DoubleBinaryOperator f) {
        long[] shape = Shapes.broadcast(a.shape, b.shape, "ref");
        double[] d = new double[(int) Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) {
            long[] index = unravel(i, shape);
            d[i] = f.applyAsDouble(a.broadcastAt(index), b.broadcastAt(index));
        }
        return new Ref(shape, d);
    }

    /** Reduces over dims with (identity, combine); keepDim keeps size-1 dims. */
    Ref reduce(int[] dims, boolean keepDim, double identity, DoubleBinaryOperator combine) {
        boolean[] reduced = new boolean[shape.length];
        for (int d : dims) {
            reduced[d < 0 ? d + shape.length : d] = true;
        }
        if (dims.length == 0) {
            Arrays.fill(reduced, true);
        }
        long[] kept = shape.clone();
        for (int d = 0; d < shape.length; d++) {
            if (reduced[d]) {
                kept[d] = 1;
            }
        }
        double[] out = new double[(int) Shapes.numel(kept)];
        Arrays.fill(out, identity);
        for (int i = 0; i < data.length; i++) {
            long[] index = unravel(i, shape);
            for (int d = 0; d < shape.length; d++) {
                if (reduced[d]) {
                    index[d] = 0;
                }
            }
            int o = (int) new Ref(kept, out).offsetOf(index);
            out[o] = combine.applyAsDouble(out[o], data[i]);
        }
        if (keepDim) {
            return new Ref(kept, out);
        }
        long[] squeezed = Arrays.stream(range(shape.length)).filter(d -> !reduced[d]).mapToLong(d -> shape[d]).toArray();
        return new Ref(squeezed, out);
    }

    long offsetOf(long[] index) {
        long[] s = strides();
        long off = 0;
        for (int d = 0; d < index.length; d++) {
            off += index[d] * s[d];
        }
        return off;
    }

    private static int[] range(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = i;
        }
        return r;
    }

    /** Batched matmul with broadcasting of leading dims; both operands at least 2-D. */
    static Ref matmul(Ref a, Ref b) {
        int ra = a.shape.length;
        int rb = b.shape.length;
        long m = a.shape[ra - 2];
        long k = a.shape[ra - 1];
        long n = b.shape[rb - 1];
        long[] batch = Shapes.broadcast(Arrays.copyOf(a.shape, ra - 2), Arrays.copyOf(b.shape, rb - 2), "ref");
        long[] outShape = Arrays.copyOf(batch, batch.length + 2);
        outShape[batch.length] = m;
        outShape[batch.length + 1] = n;
        double[] out = new double[(int) Shapes.numel(outShape)];
        for (int o = 0; o < out.length; o++) {
            long[] index = unravel(o, outShape);
            long[] ai = Arrays.copyOf(index, index.length);
            long[] bi = Arrays.copyOf(index, index.length);
            double acc = 0;
            for (long p = 0; p < k; p++) {
                ai[index.length - 1] = p;
                bi[index.length - 2] = p;
                acc += a.broadcastAt(ai) * b.broadcastAt(bi);
            }
            out[o] = acc;
        }
        return new Ref(outShape, out);
    }

    /** Applies f to each row of the last dim. */
    Ref rows(java.util.function.UnaryOperator<double[]> f) {
        int cols = shape.length == 0 ? 1 : (int) shape[shape.length - 1];
        double[] out = new double[data.length];
        for (int r = 0; cols > 0 && r < data.length / cols; r++) {
            double[] row = Arrays.copyOfRange(data, r * cols, (r + 1) * cols);
            System.arraycopy(f.apply(row), 0, out, r * cols, cols);
        }
        return new Ref(shape, out);
    }

    double dot(Ref other) {
        double s = 0;
        for (int i = 0; i < data.length; i++) {
            s += data[i] * other.data[i];
        }
        return s;
    }

    Ref withData(double[] d) {
        return new Ref(shape, d);
    }

    /** The axes reordered: result dim i is this dim order[i] (as Tensor.permute). */
    Ref permuteRef(int... order) {
        long[] outShape = new long[order.length];
        for (int i = 0; i < order.length; i++) {
            outShape[i] = shape[order[i]];
        }
        double[] out = new double[data.length];
        for (int o = 0; o < out.length; o++) {
            long[] index = unravel(o, outShape);
            long[] source = new long[order.length];
            for (int i = 0; i < order.length; i++) {
                source[order[i]] = index[i];
            }
            out[o] = at(source);
        }
        return new Ref(outShape, out);
    }

    /** The transpose of a 2-D reference. */
    Ref transposeRef() {
        return permuteRef(1, 0);
    }

    /** Rows from, from + step, ... below to of the first dim. */
    Ref sliceRows(int from, int to, int step) {
        int rowSize = (int) (Shapes.numel(shape) / shape[0]);
        int rows = (to - from + step - 1) / step;
        double[] out = new double[rows * rowSize];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(data, (from + r * step) * rowSize, out, r * rowSize, rowSize);
        }
        long[] outShape = shape.clone();
        outShape[0] = rows;
        return new Ref(outShape, out);
    }

    /** Index of the first maximum along dim (NaN counts as the maximum), as doubles; dim removed. */
    Ref argmaxRef(int dim) {
        long[] outShape = new long[shape.length - 1];
        for (int d = 0, j = 0; d < shape.length; d++) {
            if (d != dim) {
                outShape[j++] = shape[d];
            }
        }
        double[] out = new double[(int) Shapes.numel(outShape)];
        for (int o = 0; o < out.length; o++) {
            long[] outer = unravel(o, outShape);
            long[] index = new long[shape.length];
            for (int d = 0, j = 0; d < shape.length; d++) {
                index[d] = d == dim ? 0 : outer[j++];
            }
            long best = 0;
            double bestValue = at(index);
            for (long i = 1; i < shape[dim] && !Double.isNaN(bestValue); i++) {
                index[dim] = i;
                double v = at(index);
                if (v > bestValue || Double.isNaN(v)) {
                    best = i;
                    bestValue = v;
                }
            }
            out[o] = best;
        }
        return new Ref(outShape, out);
    }
}
