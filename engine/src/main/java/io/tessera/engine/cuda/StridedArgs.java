package io.tessera.engine.cuda;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.MemoryLayout.PathElement.sequenceElement;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * The {@code ts_strided} kernel argument of kernels/include/tessera/ts_strided.h (layout
 * {@link KernelStructs#STRIDED}): a shape and one stride array per operand (at most 4), with size-1 dims
 * dropped and dims merged where every operand steps through two as through one (as kernels/cpu/strided.h
 * does), so a contiguous tensor of any rank is one flat dim.
 */
final class StridedArgs {
    static final int MAX_DIMS = 8;
    static final int OPERANDS = 4;
    static final long BYTES = KernelStructs.STRIDED.byteSize();

    private static final VarHandle NUMEL = KernelStructs.STRIDED.varHandle(groupElement("numel"));
    private static final VarHandle NDIM = KernelStructs.STRIDED.varHandle(groupElement("ndim"));
    private static final VarHandle SHAPE = KernelStructs.STRIDED.varHandle(groupElement("shape"), sequenceElement());
    private static final VarHandle STRIDES = KernelStructs.STRIDED.varHandle(groupElement("strides"), sequenceElement(),
            sequenceElement());

    private StridedArgs() {}

    /** Writes the view of {@code shape} with the given per-operand strides into {@code out}. */
    static void write(MemorySegment out, long[] shape, long[]... strides) {
        if (strides.length > OPERANDS || shape.length > MAX_DIMS) {
            throw new IllegalArgumentException("a strided kernel takes at most " + OPERANDS + " operands and " + MAX_DIMS + " dims");
        }
        long[] keptShape = new long[MAX_DIMS];
        long[][] kept = new long[strides.length][MAX_DIMS];
        int ndim = 0;
        long numel = 1;
        for (int d = 0; d < shape.length; d++) {
            numel *= shape[d];
            if (shape[d] == 1) {
                continue;
            }
            boolean mergeable = ndim > 0;
            for (int o = 0; o < strides.length && mergeable; o++) {
                mergeable = strides[o][d] * shape[d] == kept[o][ndim - 1];
            }
            if (mergeable) {
                keptShape[ndim - 1] *= shape[d];
                for (int o = 0; o < strides.length; o++) {
                    kept[o][ndim - 1] = strides[o][d];
                }
            } else {
                keptShape[ndim] = shape[d];
                for (int o = 0; o < strides.length; o++) {
                    kept[o][ndim] = strides[o][d];
                }
                ndim++;
            }
        }
        if (ndim == 0) {
            keptShape[0] = 1;
            ndim = 1;
        }
        NUMEL.set(out, 0L, numel);
        NDIM.set(out, 0L, ndim);
        for (int d = 0; d < MAX_DIMS; d++) {
            SHAPE.set(out, 0L, (long) d, keptShape[d]);
        }
        for (int o = 0; o < strides.length; o++) {
            for (int d = 0; d < MAX_DIMS; d++) {
                STRIDES.set(out, 0L, (long) o, (long) d, kept[o][d]);
            }
        }
    }
}
