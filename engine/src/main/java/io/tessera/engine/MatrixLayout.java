package io.tessera.engine;

/**
 * How the matrix in the last two dims of a view is handed to a BLAS GEMM (OpenBLAS, cuBLAS) without a
 * copy: stored row-major ({@code transposed} false) or column-major (true), with its leading dimension.
 */
public record MatrixLayout(boolean transposed, int leadingDimension) {

    /** The layout of t's last two dims, or IllegalArgumentException naming {@code what} if they are neither. */
    public static MatrixLayout of(Tensor t, String what) {
        int rank = t.rank();
        long rows = t.shape()[rank - 2];
        long cols = t.shape()[rank - 1];
        long rowStride = t.strides()[rank - 2];
        long colStride = t.strides()[rank - 1];
        if ((colStride == 1 || cols == 1) && rowStride >= Math.max(cols, 1) && rowStride <= Integer.MAX_VALUE) {
            return new MatrixLayout(false, (int) Math.max(rowStride, 1));
        }
        if ((rowStride == 1 || rows == 1) && colStride >= Math.max(rows, 1) && colStride <= Integer.MAX_VALUE) {
            return new MatrixLayout(true, (int) Math.max(colStride, 1));
        }
        if (cols == 1 && rows == 1) {
            return new MatrixLayout(false, 1);
        }
        throw new IllegalArgumentException(what + " " + t.describe() + " is neither row- nor column-major; make it contiguous()");
    }

    /** The element offset (from t's own offset) of matrix {@code batch}, counting t's leading dims row-major. */
    public static long batchOffset(Tensor t, long batch) {
        long[] shape = t.shape();
        long[] strides = t.strides();
        long offset = 0;
        long rest = batch;
        for (int d = t.rank() - 3; d >= 0; d--) {
            offset += rest % shape[d] * strides[d];
            rest /= shape[d];
        }
        return offset;
    }
}
