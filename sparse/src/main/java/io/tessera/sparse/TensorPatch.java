package io.tessera.sparse;

import io.tessera.engine.DType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One tensor's part of a {@link Patch}: sorted, unique flat indices, the new values there (raw
 * little-endian bytes of the tensor's dtype), when known the base values they replace, and, when the
 * contributor published it, their Fisher diagonal at those entries (for a Fisher merge without their data). A tensor
 * holds at most 2^31 - 1 patched entries (and 2 GiB of values). Immutable.
 */
public final class TensorPatch {
    private final DType dtype;
    private final long[] shape;
    private final long numel;
    private final long[] indices;
    private final byte[] values;
    private final byte[] baseValues; // null when unknown, e.g. for a patch read from a file
    private final float[] fisher; // null when the patch carries no statistics

    /** Takes ownership of the arrays. @throws IllegalArgumentException if they disagree or an index is invalid */
    TensorPatch(DType dtype, long[] shape, long[] indices, byte[] values, byte[] baseValues) {
        this(dtype, shape, indices, values, baseValues, null);
    }

    /** As above, with the contributor's Fisher diagonal at each entry (finite, >= 0), or null. */
    TensorPatch(DType dtype, long[] shape, long[] indices, byte[] values, byte[] baseValues, float[] fisher) {
        this.fisher = fisher;
        if (fisher != null && fisher.length != indices.length) {
            throw new IllegalArgumentException(indices.length + " entries need as many Fisher values, got " + fisher.length);
        }
        for (int j = 0; fisher != null && j < fisher.length; j++) {
            if (!(fisher[j] >= 0 && fisher[j] < Float.POSITIVE_INFINITY)) {
                throw new IllegalArgumentException("the Fisher value " + fisher[j] + " at position " + j + " is not finite and >= 0");
            }
        }
        this.dtype = dtype;
        this.shape = shape;
        this.numel = HostTensors.numel(shape, "patched tensor");
        this.indices = indices;
        this.values = values;
        this.baseValues = baseValues;
        long bytes = (long) indices.length * dtype.byteSize();
        if (values.length != bytes || (baseValues != null && baseValues.length != bytes)) {
            throw new IllegalArgumentException(indices.length + " " + dtype + " entries need " + bytes + " bytes of values, got "
                    + values.length + (baseValues == null ? "" : " and " + baseValues.length + " of base values"));
        }
        for (int j = 0; j < indices.length; j++) {
            if (indices[j] < 0 || indices[j] >= numel || (j > 0 && indices[j] <= indices[j - 1])) {
                throw new IllegalArgumentException("index " + indices[j] + " at position " + j + " is out of [0, " + numel
                        + ") or not above the previous one");
            }
        }
    }

    public DType dtype() {
        return dtype;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        return numel;
    }

    /** Patched entries. */
    public int count() {
        return indices.length;
    }

    /** The patched flat indices, ascending (a copy). */
    public long[] indices() {
        return indices.clone();
    }

    public long index(int j) {
        return indices[j];
    }

    /** The new value of the j-th patched entry, as a double. */
    public double value(int j) {
        return Elements.get(MemorySegment.ofArray(values), dtype, j);
    }

    public boolean hasBaseValues() {
        return baseValues != null;
    }

    /** The base value the j-th patched entry replaces; only when {@link #hasBaseValues()}. */
    public double baseValue(int j) {
        if (baseValues == null) {
            throw new IllegalStateException("this patch does not carry base values (see Patch.withBaseValues)");
        }
        return Elements.get(MemorySegment.ofArray(baseValues), dtype, j);
    }

    /** The selected entries as a mask. */
    public TensorMask support() {
        return TensorMask.ofIndices(shape, indices);
    }

    long[] rawIndices() {
        return indices;
    }

    byte[] rawValues() {
        return values;
    }

    byte[] rawBaseValues() {
        return baseValues;
    }

    TensorPatch withBaseValues(byte[] base) {
        return new TensorPatch(dtype, shape, indices, values, base, fisher);
    }

    TensorPatch withFisher(float[] values) {
        return new TensorPatch(dtype, shape, indices, this.values, baseValues, values);
    }

    public boolean hasFisher() {
        return fisher != null;
    }

    /** The contributor's Fisher at the j-th patched entry; only when {@link #hasFisher()}. */
    public float fisher(int j) {
        if (fisher == null) {
            throw new IllegalStateException("this patch carries no Fisher (see Patch.withFisher)");
        }
        return fisher[j];
    }

    float[] rawFisher() {
        return fisher;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorPatch p && dtype == p.dtype && Arrays.equals(shape, p.shape)
                && Arrays.equals(indices, p.indices) && Arrays.equals(values, p.values)
                && Arrays.equals(baseValues, p.baseValues) && Arrays.equals(fisher, p.fisher);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(indices) + Arrays.hashCode(values);
    }

    @Override
    public String toString() {
        return dtype + Arrays.toString(shape) + ": " + indices.length + " entries";
    }
}
