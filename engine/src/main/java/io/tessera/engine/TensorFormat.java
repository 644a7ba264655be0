package io.tessera.engine;

import java.util.function.IntFunction;

/** Prints a tensor like numpy: header, then nested rows, eliding the middle of long dims. */
final class TensorFormat {
    private static final int EDGE = 3;
    private static final long FULL_LIMIT = 1000;
    /** Above this many elements only the header is printed: reading every value would cost too much. */
    private static final long VALUES_LIMIT = 1_000_000;

    private TensorFormat() {}

    static String format(Tensor t) {
        if (t.isClosed()) {
            return "tensor(" + t.describe() + ", closed)";
        }
        if (t.numel() > VALUES_LIMIT) {
            return "tensor(" + t.describe() + ", " + t.numel() + " elements)";
        }
        StringBuilder out = new StringBuilder("tensor(");
        long[] shape = t.shape();
        appendDim(out, cells(t), shape, 0, 0, t.numel() > FULL_LIMIT);
        out.append(", ").append(t.dtype()).append(", shape=").append(java.util.Arrays.toString(shape));
        if (t.requiresGrad()) {
            out.append(", requiresGrad");
        }
        return out.append(')').toString();
    }

    /** Element i as printed: floats to 4 significant digits, integers exactly (U64 as unsigned). */
    private static IntFunction<String> cells(Tensor t) {
        if (t.dtype().isFloatingPoint()) {
            double[] v = t.toDoubleArray();
            return i -> String.format("%.4g", v[i]);
        }
        long[] v = t.toLongArray();
        return t.dtype() == DType.U64 ? i -> Long.toUnsignedString(v[i]) : i -> Long.toString(v[i]);
    }

    private static void appendDim(StringBuilder out, IntFunction<String> cells, long[] shape, int dim, long base, boolean elide) {
        if (dim == shape.length) {
            out.append(cells.apply((int) base));
            return;
        }
        long stride = 1;
        for (int d = dim + 1; d < shape.length; d++) {
            stride *= shape[d];
        }
        out.append('[');
        for (long i = 0; i < shape[dim]; i++) {
            if (elide && shape[dim] > 2 * EDGE && i == EDGE) {
                out.append("..., ");
                i = shape[dim] - EDGE - 1;
                continue;
            }
            appendDim(out, cells, shape, dim + 1, base + i * stride, elide);
            if (i < shape[dim] - 1) {
                out.append(", ");
            }
        }
        out.append(']');
    }
}
