package io.tessera.engine;

import java.util.Arrays;

/** Shape and stride arithmetic. */
final class Shapes {
    private Shapes() {}

    static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) {
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    static void checkShape(long[] shape) {
        if (shape.length > Tensor.MAX_DIMS) {
            throw new IllegalArgumentException("tensors have at most " + Tensor.MAX_DIMS + " dims, got " + Arrays.toString(shape));
        }
        for (long s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("negative size in shape " + Arrays.toString(shape));
            }
        }
        numel(shape); // throws on overflow
    }

    static long[] contiguousStrides(long[] shape) {
        long[] strides = new long[shape.length];
        long stride = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            strides[d] = stride;
            stride *= Math.max(shape[d], 1);
        }
        return strides;
    }

    /** Row-major dense: size-1 dims may have any stride. */
    static boolean isContiguous(long[] shape, long[] strides) {
        long expected = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] == 0) {
                return true;
            }
            if (shape[d] != 1 && strides[d] != expected) {
                return false;
            }
            expected *= shape[d];
        }
        return true;
    }

    static int normalizeDim(int dim, int rank) {
        int d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= rank) {
            throw new IllegalArgumentException("dim " + dim + " is out of range for a tensor of rank " + rank);
        }
        return d;
    }

    /** The dims to reduce, sorted and distinct; none given means all. */
    static int[] reduceDims(int[] dims, int rank) {
        if (dims.length == 0) {
            int[] all = new int[rank];
            for (int i = 0; i < rank; i++) {
                all[i] = i;
            }
            return all;
        }
        int[] out = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            out[i] = normalizeDim(dims[i], rank);
        }
        Arrays.sort(out);
        for (int i = 1; i < out.length; i++) {
            if (out[i] == out[i - 1]) {
                throw new IllegalArgumentException("dim " + out[i] + " is listed twice in " + Arrays.toString(dims));
            }
        }
        return out;
    }

    /** NumPy broadcasting of two shapes. */
    static long[] broadcast(long[] a, long[] b, String op) {
        int rank = Math.max(a.length, b.length);
        long[] out = new long[rank];
        for (int i = 0; i < rank; i++) {
            long x = i < rank - a.length ? 1 : a[i - (rank - a.length)];
            long y = i < rank - b.length ? 1 : b[i - (rank - b.length)];
            if (x != y && x != 1 && y != 1) {
                throw new IllegalArgumentException(op + ": shapes " + Arrays.toString(a) + " and " + Arrays.toString(b)
                        + " cannot be broadcast together (dim " + i + ": " + x + " vs " + y + ")");
            }
            out[i] = x == 1 ? y : x;
        }
        return out;
    }

    /**
     * Strides for viewing a tensor of (shape, strides) as newShape without copying, or null if impossible
     * (as torch's computeStride).
     */
    static long[] viewStrides(long[] shape, long[] strides, long[] newShape) {
        long[] newStrides = new long[newShape.length];
        if (numel(shape) == 0) {
            return contiguousStrides(newShape);
        }
        int viewD = newShape.length - 1;
        long chunkBase = strides.length == 0 ? 1 : strides[strides.length - 1];
        long tensorNumel = 1;
        long viewNumel = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            tensorNumel *= shape[d];
            if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensorNumel * chunkBase)) {
                while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1)) {
                    newStrides[viewD] = viewNumel * chunkBase;
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) {
                    return null;
                }
                if (d > 0) {
                    chunkBase = strides[d - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        if (viewD != -1) {
            // only trailing size-1 dims may remain
            while (viewD >= 0) {
                if (newShape[viewD] != 1) {
                    return null;
                }
                newStrides[viewD--] = 1;
            }
        }
        return newStrides;
    }
}
