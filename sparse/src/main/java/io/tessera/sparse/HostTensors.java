package io.tessera.sparse;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The bytes of contiguous CPU tensors, for sparse code that reads and writes single entries (patches,
 * masks, the masked kernels). Model tensors are contiguous; a strided view is refused rather than
 * silently copied, because writing into a copy would lose the update.
 */
final class HostTensors {
    private HostTensors() {}

    /** The tensor's elements as one segment; {@code what} names the tensor in errors. */
    static MemorySegment bytes(Tensor t, String what) {
        if (!t.isContiguous()) {
            throw new IllegalArgumentException(what + " (" + t.describe() + ") is not contiguous");
        }
        if (!(t.storage() instanceof HostStorage host)) {
            throw new IllegalArgumentException(what + " (" + t.describe() + ") is not in host memory");
        }
        long size = t.dtype().byteSize();
        return host.segment().asSlice(t.offset() * size, t.numel() * size);
    }

    /** As {@link #bytes}, refusing read-only memory (a zero-copy view of a mapped file) before anything writes. */
    static MemorySegment writableBytes(Tensor t, String what) {
        MemorySegment segment = bytes(t, what);
        if (segment.isReadOnly()) {
            throw new IllegalArgumentException(what + " (" + t.describe() + ") is read-only (a zero-copy view of a"
                    + " memory-mapped file); read the model with copy = true to modify it");
        }
        return segment;
    }

    /** The number of elements of {@code shape}, or an exception naming {@code what} if it overflows a long. */
    static long numel(long[] shape, String what) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(what + ": negative dim in shape " + Arrays.toString(shape));
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException(what + ": shape " + Arrays.toString(shape) + " has more than 2^63 elements");
            }
        }
        return n;
    }
}
