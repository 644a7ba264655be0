package io.tessera.engine;

/**
 * The dims of a reduction split into the kept (outer) and the reduced ones, each with its shape and strides,
 * as both backends' reduce kernels take them.
 */
public record ReduceSplit(long[] outerShape, long[] outerStrides, long[] reducedShape, long[] reducedStrides) {

    /** Splits {@code x}'s dims: those listed in {@code dims} are reduced, the rest kept, each in order. */
    public static ReduceSplit of(Tensor x, int[] dims) {
        boolean[] reduced = new boolean[x.rank()];
        for (int d : dims) {
            reduced[d] = true;
        }
        int outer = x.rank() - dims.length;
        long[] outerShape = new long[outer];
        long[] outerStrides = new long[outer];
        long[] redShape = new long[dims.length];
        long[] redStrides = new long[dims.length];
        long[] shape = x.shape();
        long[] strides = x.strides();
        for (int d = 0, o = 0, r = 0; d < x.rank(); d++) {
            if (reduced[d]) {
                redShape[r] = shape[d];
                redStrides[r++] = strides[d];
            } else {
                outerShape[o] = shape[d];
                outerStrides[o++] = strides[d];
            }
        }
        return new ReduceSplit(outerShape, outerStrides, redShape, redStrides);
    }
}
