package io.tessera.engine;

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
        double[] values = toDoubles(t);
        long[] shape = t.shape();
        appendDim(out, values, shape, 0, 0, t.dtype().isFloatingPoint(), t.numel() > FULL_LIMIT);
        out.append(", ").append(t.dtype()).append(", shape=").append(java.util.Arrays.toString(shape));
        if (t.requiresGrad()) {
            out.append(", requiresGrad");
        }
        return out.append(')').toString();
    }

    private static double[] toDoubles(Tensor t) {
        if (t.dtype() == DType.I64) {
            long[] v = t.toLongArray();
            double[] d = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                d[i] = v[i];
            }
            return d;
        }
        float[] v = t.toFloatArray();
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    private static void appendDim(StringBuilder out, double[] values, long[] shape, int dim, long base,
                                  boolean floating, boolean elide) {
        if (dim == shape.length) {
            double v = values[(int) base];
            out.append(floating ? String.format("%.4g", v) : String.valueOf((long) v));
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
            appendDim(out, values, shape, dim + 1, base + i * stride, floating, elide);
            if (i < shape[dim] - 1) {
                out.append(", ");
            }
        }
        out.append(']');
    }
}
