package io.tessera.sparse;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Sorted flat index lists as file tensors: int32 or int64, absolute or delta-encoded (the first index,
 * then the gap to each next one). Decoding validates what a hostile file could get wrong: the dtype,
 * the rank, order, uniqueness and range.
 */
final class IndexCodec {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private IndexCodec() {}

    /** The largest value stored for {@code sorted}: its last index, or with delta its first index or largest gap. */
    static long largestStored(long[] sorted, boolean delta) {
        if (sorted.length == 0) {
            return 0;
        }
        if (!delta) {
            return sorted[sorted.length - 1];
        }
        long max = sorted[0];
        for (int j = 1; j < sorted.length; j++) {
            max = Math.max(max, sorted[j] - sorted[j - 1]);
        }
        return max;
    }

    /** 4 when every stored value fits an int32, else 8. */
    static int width(long largestStored) {
        return largestStored <= Integer.MAX_VALUE ? 4 : 8;
    }

    /** A new I32 or I64 tensor [k] holding {@code sorted} as {@code delta} says, in the current scope. */
    static Tensor encode(long[] sorted, boolean delta, int width) {
        if (width == 4) {
            int[] out = new int[sorted.length];
            for (int j = 0; j < out.length; j++) {
                out[j] = Math.toIntExact(delta && j > 0 ? sorted[j] - sorted[j - 1] : sorted[j]);
            }
            return Tensor.of(out, out.length);
        }
        long[] out = new long[sorted.length];
        for (int j = 0; j < out.length; j++) {
            out[j] = delta && j > 0 ? sorted[j] - sorted[j - 1] : sorted[j];
        }
        return Tensor.of(out, out.length);
    }

    /**
     * The absolute indices stored in {@code t}, checked to be strictly increasing and inside [0, numel).
     * {@code where} names the file and tensor in errors.
     */
    static long[] decode(Tensor t, boolean delta, long numel, String where) throws SparseFormatException {
        if ((t.dtype() != DType.I32 && t.dtype() != DType.I64) || t.rank() != 1) {
            throw new SparseFormatException(where + ": indices must be a 1-D int32 or int64 tensor, not " + t.describe());
        }
        MemorySegment data = HostTensors.bytes(t, where);
        boolean wide = t.dtype() == DType.I64;
        long[] out = new long[Math.toIntExact(t.numel())];
        long previous = -1;
        for (int j = 0; j < out.length; j++) {
            long stored = wide ? data.get(I64, 8L * j) : data.get(I32, 4L * j);
            long index;
            if (delta && j > 0) {
                if (stored <= 0) {
                    throw new SparseFormatException(where + ": delta " + stored + " at position " + j
                            + " is not positive: indices must be sorted and unique");
                }
                index = previous + stored;
                if (index < previous) {
                    index = Long.MAX_VALUE; // overflow: certainly out of range
                }
            } else {
                index = stored;
            }
            if (index < 0 || index >= numel) {
                throw new SparseFormatException(where + ": index " + index + " at position " + j + " is outside [0, "
                        + numel + ")");
            }
            if (index <= previous) {
                throw new SparseFormatException(where + ": index " + index + " at position " + j
                        + " does not exceed the previous index " + previous + ": indices must be sorted and unique");
            }
            out[j] = index;
            previous = index;
        }
        return out;
    }
}
