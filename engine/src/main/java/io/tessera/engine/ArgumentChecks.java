package io.tessera.engine;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.tessera.ffi.TesseraCpu;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The checks {@link Backend} runs on every argument before a kernel sees it: native kernels trust their
 * arguments, so a wrong dtype, size, device or index reaching one corrupts memory instead of failing.
 * Each failure is an IllegalArgumentException naming the op, the argument and what was expected (a closed
 * tensor is an IllegalStateException, as everywhere).
 */
final class ArgumentChecks {
    static final Set<DType> INDEX_TYPES = EnumSet.of(DType.I32, DType.I64);

    private final String op;
    private final Device device;

    ArgumentChecks(String op, Device device) {
        this.op = op;
        this.device = device;
    }

    private IllegalArgumentException fail(String argument, Tensor t, String problem) {
        return new IllegalArgumentException(op + " on " + device + ": " + argument + (t == null ? "" : " " + t.describe()) + " "
                + problem);
    }

    /**
     * t is open, on this device, and addresses only bytes of its own storage; returns it. Every tensor
     * argument goes through here first.
     */
    Tensor tensor(String argument, Tensor t) {
        if (t == null) {
            throw fail(argument, null, "is null");
        }
        Storage storage = t.storage(); // throws if closed
        if (!storage.device().equals(device)) {
            throw fail(argument, t, "is not on " + device + "; move it with to(" + device + ")");
        }
        if (t.numel() == 0) {
            return t;
        }
        long first = t.offset();
        long last = t.offset();
        long[] shape = t.shape();
        long[] strides = t.strides();
        for (int d = 0; d < shape.length; d++) {
            long span = (shape[d] - 1) * strides[d];
            first += Math.min(span, 0);
            last += Math.max(span, 0);
        }
        if (first < 0 || (last + 1) * t.dtype().byteSize() > storage.byteSize()) {
            throw fail(argument, t, "addresses elements [" + first + ", " + last + "] outside its storage of "
                    + storage.byteSize() + " bytes");
        }
        return t;
    }

    /** {@link #tensor}, or nothing for an absent optional argument. */
    Tensor optional(String argument, Tensor t) {
        return t == null ? null : tensor(argument, t);
    }

    ArgumentChecks dtype(String argument, Tensor t, DType expected) {
        if (t != null && t.dtype() != expected) {
            throw fail(argument, t, "must be " + expected);
        }
        return this;
    }

    ArgumentChecks dtypeIn(String argument, Tensor t, Set<DType> allowed) {
        if (t != null && !allowed.contains(t.dtype())) {
            throw fail(argument, t, "must be one of " + allowed);
        }
        return this;
    }

    ArgumentChecks contiguous(String argument, Tensor t) {
        if (t != null && !t.isContiguous()) {
            throw fail(argument, t, "must be contiguous (strides " + Arrays.toString(t.strides()) + ")");
        }
        return this;
    }

    /** A contiguous F32 tensor of {@code numel} elements (any shape). */
    ArgumentChecks f32(String argument, Tensor t, long numel) {
        dtype(argument, t, DType.F32).contiguous(argument, t);
        return numel(argument, t, numel);
    }

    ArgumentChecks numel(String argument, Tensor t, long numel) {
        if (t != null && t.numel() != numel) {
            throw fail(argument, t, "must have " + numel + " elements");
        }
        return this;
    }

    ArgumentChecks shape(String argument, Tensor t, long[] shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            throw fail(argument, t, "must have shape " + Arrays.toString(shape));
        }
        return this;
    }

    ArgumentChecks rank(String argument, Tensor t, int rank) {
        if (t.rank() != rank) {
            throw fail(argument, t, "must have rank " + rank);
        }
        return this;
    }

    ArgumentChecks require(boolean condition, String problem) {
        return require(condition, () -> problem);
    }

    /**
     * {@link #require(boolean, String)} with a message built only on failure: a decoding step runs ~15 checked ops per
     * block, and building their messages (each tensor's describe()) every time was a tenth of GPT-2's per-step overhead.
     */
    ArgumentChecks require(boolean condition, Supplier<String> problem) {
        if (!condition) {
            throw new IllegalArgumentException(op + " on " + device + ": " + problem.get());
        }
        return this;
    }

    /**
     * An I32 or I64 contiguous list whose entries all lie in [0, bound) and, when {@code increasing}, are
     * sorted and unique. Reads the entries (on a device: a copy to the host first).
     */
    ArgumentChecks indices(String argument, Tensor t, long bound, boolean increasing) {
        dtypeIn(argument, t, INDEX_TYPES).contiguous(argument, t);
        if (t.numel() == 0) {
            return this;
        }
        boolean onHost = t.storage() instanceof HostStorage;
        Tensor host = onHost ? t : t.to(Device.CPU);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment entries = ((HostStorage) host.storage()).segment().asSlice(host.offset() * host.dtype().byteSize());
            MemorySegment firstBad = arena.allocate(JAVA_LONG);
            int status = TesseraCpu.ts_index_check(host.numel(), entries, host.dtype().byteSize(), bound, increasing ? 1 : 0,
                    firstBad);
            if (status != TesseraCpu.TS_OK) {
                throw new IllegalStateException("ts_index_check returned status " + status);
            }
            long j = firstBad.get(JAVA_LONG, 0);
            if (j >= 0) {
                long value = host.dtype() == DType.I32 ? entries.getAtIndex(JAVA_INT, j) : entries.getAtIndex(JAVA_LONG, j);
                throw new IllegalArgumentException(op + " on " + device + ": " + argument + "[" + j + "] = " + value
                        + (value < 0 || value >= bound ? " is outside [0, " + bound + ")"
                        : " is not above the entry before it (the list must be sorted and unique)") + " (" + t.describe() + ")");
            }
        } finally {
            if (!onHost) {
                host.close();
            }
        }
        return this;
    }

    /** The last dim (1 for a scalar): the row length of the "rows" kernels. */
    static long cols(Tensor t) {
        return t.rank() == 0 ? 1 : t.dim(t.rank() - 1);
    }

    /** The product of all dims but the last: one value per row for mean, rstd, losses and scales. */
    static long rows(Tensor t) {
        long rows = 1;
        for (int d = 0; d < t.rank() - 1; d++) {
            rows *= t.dim(d);
        }
        return rows;
    }
}
