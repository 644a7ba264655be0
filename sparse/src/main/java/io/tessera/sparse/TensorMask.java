package io.tessera.sparse;

import java.util.Arrays;
import java.util.function.LongConsumer;

/**
 * The selected entries of one tensor, by flat (row-major) index. Held in whichever of two forms is
 * smaller on disk: a sorted list of unique indices (4 bytes each when the tensor has fewer than 2^31
 * elements, else 8), or a packed bitmap (one bit per element). The form follows from the content, so
 * two masks selecting the same entries of the same shape are equal. Immutable.
 */
public final class TensorMask {
    private enum SetOp {
        UNION(true, true, true), INTERSECTION(true, false, false), DIFFERENCE(false, true, false);

        final boolean keepBoth;
        final boolean keepLeftOnly;
        final boolean keepRightOnly;

        SetOp(boolean keepBoth, boolean keepLeftOnly, boolean keepRightOnly) {
            this.keepBoth = keepBoth;
            this.keepLeftOnly = keepLeftOnly;
            this.keepRightOnly = keepRightOnly;
        }

        long apply(long a, long b) {
            return switch (this) {
                case UNION -> a | b;
                case INTERSECTION -> a & b;
                case DIFFERENCE -> a & ~b;
            };
        }
    }

    /** Java arrays end here; a bitmap or index list that would need more slots stays in the other form. */
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private final long[] shape;
    private final long numel;
    private final long count;
    private final long[] indices; // index form: sorted, unique, in range; null in bitmap form
    private final long[] words;   // bitmap form: entry i is bit (i & 63) of words[i >>> 6]; null in index form

    private TensorMask(long[] shape, long numel, long count, long[] indices, long[] words) {
        this.shape = shape;
        this.numel = numel;
        this.count = count;
        this.indices = indices;
        this.words = words;
    }

    /**
     * The entries {@code sortedIndices} of a tensor of {@code shape}.
     *
     * @throws IllegalArgumentException if an index is out of range, or the indices are not strictly increasing
     */
    public static TensorMask ofIndices(long[] shape, long[] sortedIndices) {
        long n = HostTensors.numel(shape, "mask");
        for (int j = 0; j < sortedIndices.length; j++) {
            long i = sortedIndices[j];
            if (i < 0 || i >= n) {
                throw new IllegalArgumentException("index " + i + " (position " + j + ") is outside [0, " + n + ") for shape "
                        + Arrays.toString(shape));
            }
            if (j > 0 && i <= sortedIndices[j - 1]) {
                throw new IllegalArgumentException("index " + i + " (position " + j + ") does not exceed the previous index "
                        + sortedIndices[j - 1] + ": indices must be sorted and unique");
            }
        }
        return compact(shape.clone(), n, sortedIndices.clone());
    }

    /**
     * The entries whose bits are set in {@code packedBits}: entry i is bit (i % 8) of byte i / 8, the
     * layout of the file format. The array must be exactly ceil(numel / 8) bytes, padding bits zero.
     */
    public static TensorMask ofBitmap(long[] shape, byte[] packedBits) {
        long n = HostTensors.numel(shape, "mask");
        long expected = (n + 7) / 8;
        if (packedBits.length != expected) {
            throw new IllegalArgumentException("bitmap of shape " + Arrays.toString(shape) + " must be " + expected
                    + " bytes, got " + packedBits.length);
        }
        if (n % 8 != 0 && (packedBits[packedBits.length - 1] & 0xff) >>> (n % 8) != 0) {
            throw new IllegalArgumentException("bitmap of shape " + Arrays.toString(shape) + " sets bits beyond its "
                    + n + " elements");
        }
        long[] w = new long[(int) ((n + 63) / 64)];
        for (int b = 0; b < packedBits.length; b++) {
            w[b >>> 3] |= (packedBits[b] & 0xffL) << (8 * (b & 7));
        }
        return compactWords(shape.clone(), n, w);
    }

    /** The smaller form for a validated index list. */
    private static TensorMask compact(long[] shape, long numel, long[] sorted) {
        if (bitmapIsSmaller(numel, sorted.length)) {
            long[] w = new long[(int) ((numel + 63) / 64)];
            for (long i : sorted) {
                w[(int) (i >>> 6)] |= 1L << i;
            }
            return new TensorMask(shape, numel, sorted.length, null, w);
        }
        return new TensorMask(shape, numel, sorted.length, sorted, null);
    }

    /** The smaller form for a validated bitmap. */
    private static TensorMask compactWords(long[] shape, long numel, long[] w) {
        long c = 0;
        for (long word : w) {
            c += Long.bitCount(word);
        }
        if (bitmapIsSmaller(numel, c)) {
            return new TensorMask(shape, numel, c, null, w);
        }
        return new TensorMask(shape, numel, c, wordsToIndices(w, c), null);
    }

    private static boolean bitmapIsSmaller(long numel, long count) {
        long bitmapBytes = (numel + 7) / 8;
        return bitmapBytes < count * indexWidth(numel) && (numel + 63) / 64 <= MAX_ARRAY;
    }

    private static long[] wordsToIndices(long[] w, long c) {
        if (c > MAX_ARRAY) {
            throw new IllegalStateException(c + " selected entries do not fit in one Java array of indices");
        }
        long[] out = new long[(int) c];
        int j = 0;
        for (int k = 0; k < w.length; k++) {
            for (long word = w[k]; word != 0; word &= word - 1) {
                out[j++] = ((long) k << 6) + Long.numberOfTrailingZeros(word);
            }
        }
        return out;
    }

    /** Bytes per stored index: 4 (int32) when the tensor has fewer than 2^31 elements, else 8 (int64). */
    public static int indexWidth(long numel) {
        return numel < (1L << 31) ? 4 : 8;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        return numel;
    }

    /** The number of selected entries. */
    public long count() {
        return count;
    }

    /** count / numel (0 for an empty tensor). */
    public double density() {
        return numel == 0 ? 0 : (double) count / numel;
    }

    /** True when held (and saved) as a bitmap rather than an index list. */
    public boolean isBitmap() {
        return words != null;
    }

    /** Bytes the mask's data takes in a file: the index list or the bitmap. */
    public long storedBytes() {
        return isBitmap() ? (numel + 7) / 8 : count * indexWidth(numel);
    }

    /** The selected flat indices, ascending (a new array). */
    public long[] indices() {
        return isBitmap() ? wordsToIndices(words, count) : indices.clone();
    }

    /** Calls {@code action} with every selected flat index, ascending, without materialising the list. */
    public void forEachIndex(LongConsumer action) {
        if (!isBitmap()) {
            for (long i : indices) {
                action.accept(i);
            }
            return;
        }
        for (int k = 0; k < words.length; k++) {
            for (long word = words[k]; word != 0; word &= word - 1) {
                action.accept(((long) k << 6) + Long.numberOfTrailingZeros(word));
            }
        }
    }

    public boolean contains(long flatIndex) {
        if (flatIndex < 0 || flatIndex >= numel) {
            throw new IndexOutOfBoundsException("flat index " + flatIndex + " is outside [0, " + numel + ")");
        }
        return isBitmap() ? (words[(int) (flatIndex >>> 6)] & (1L << flatIndex)) != 0
                : Arrays.binarySearch(indices, flatIndex) >= 0;
    }

    /** The packed bitmap (bit i % 8 of byte i / 8), whatever the form; ceil(numel / 8) bytes. */
    public byte[] packedBits() {
        long bytes = (numel + 7) / 8;
        if (bytes > MAX_ARRAY) {
            throw new IllegalStateException("a bitmap of " + numel + " elements does not fit in one Java array");
        }
        long[] w = bitmapWords();
        byte[] out = new byte[(int) bytes];
        for (int b = 0; b < out.length; b++) {
            out[b] = (byte) (w[b >>> 3] >>> (8 * (b & 7)));
        }
        return out;
    }

    private long[] bitmapWords() {
        if (isBitmap()) {
            return words;
        }
        long[] w = new long[Math.toIntExact((numel + 63) / 64)];
        for (long i : indices) {
            w[(int) (i >>> 6)] |= 1L << i;
        }
        return w;
    }

    public TensorMask union(TensorMask other) {
        return combine(other, SetOp.UNION);
    }

    public TensorMask intersection(TensorMask other) {
        return combine(other, SetOp.INTERSECTION);
    }

    /** The entries of this mask that {@code other} does not select. */
    public TensorMask difference(TensorMask other) {
        return combine(other, SetOp.DIFFERENCE);
    }

    /**
     * Two index lists merge in O(k); as soon as one side is a bitmap (so numel / 8 bytes are already
     * justified) both become bitmaps and combine word by word. Never allocates in proportion to numel
     * for two index lists, so a hostile shape cannot blow up memory.
     */
    private TensorMask combine(TensorMask other, SetOp op) {
        if (!Arrays.equals(shape, other.shape)) {
            throw new IllegalArgumentException("masks of shapes " + Arrays.toString(shape) + " and "
                    + Arrays.toString(other.shape) + " cannot be combined");
        }
        if (!isBitmap() && !other.isBitmap()) {
            return compact(shape, numel, merge(indices, other.indices, op));
        }
        long[] a = bitmapWords();
        long[] b = other.bitmapWords();
        long[] out = new long[a.length];
        for (int k = 0; k < out.length; k++) {
            out[k] = op.apply(a[k], b[k]);
        }
        return compactWords(shape, numel, out);
    }

    private static long[] merge(long[] a, long[] b, SetOp op) {
        LongList out = new LongList();
        int i = 0;
        int j = 0;
        while (i < a.length || j < b.length) {
            long x = i < a.length ? a[i] : Long.MAX_VALUE;
            long y = j < b.length ? b[j] : Long.MAX_VALUE;
            if (x == y) {
                if (op.keepBoth) {
                    out.add(x);
                }
                i++;
                j++;
            } else if (x < y) {
                if (op.keepLeftOnly) {
                    out.add(x);
                }
                i++;
            } else {
                if (op.keepRightOnly) {
                    out.add(y);
                }
                j++;
            }
        }
        return out.toArray();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorMask m && numel == m.numel && count == m.count && Arrays.equals(shape, m.shape)
                && Arrays.equals(indices, m.indices) && Arrays.equals(words, m.words);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(shape) + Long.hashCode(count);
    }

    /** e.g. "[784, 256]: 1003 of 200704 (0.500%) as indices". */
    @Override
    public String toString() {
        return Arrays.toString(shape) + ": " + count + " of " + numel + String.format(" (%.3f%%)", 100 * density())
                + (isBitmap() ? " as a bitmap" : " as indices");
    }
}
