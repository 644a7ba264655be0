package io.tessera.sparse;

import io.tessera.engine.Tensor;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@link Patch#diff}: the entries whose bits differ between two models, optionally only inside a mask. */
final class PatchDiff {
    private PatchDiff() {}

    /** Collects indices, new values and base values of one tensor's changed entries. */
    private static final class Changes {
        final LongList indices = new LongList();
        final ByteArrayOutputStream values = new ByteArrayOutputStream();
        final ByteArrayOutputStream baseValues = new ByteArrayOutputStream();

        void add(long index, MemorySegment base, MemorySegment tuned, int size) {
            indices.add(index);
            values.writeBytes(tuned.asSlice(index * size, size).toArray(ValueLayout.JAVA_BYTE));
            baseValues.writeBytes(base.asSlice(index * size, size).toArray(ValueLayout.JAVA_BYTE));
        }
    }

    static Patch compute(Map<String, Tensor> base, Map<String, Tensor> tuned, SparseMask mask, String description) {
        List<String> problems = new ArrayList<>(SparseMask.nameMismatches(base.keySet(), tuned.keySet(), "the base", "the tuned model"));
        base.forEach((name, b) -> {
            Tensor t = tuned.get(name);
            if (t != null && (t.dtype() != b.dtype() || !Arrays.equals(t.shape(), b.shape()))) {
                problems.add("tensor '" + name + "' is " + b.describe() + " in the base but " + t.describe() + " in the tuned model");
            }
        });
        if (mask != null) {
            mask.tensors().forEach((name, m) -> {
                Tensor b = base.get(name);
                if (b == null) {
                    problems.add("tensor '" + name + "' is masked but not in the models");
                } else if (!Arrays.equals(m.shape(), b.shape())) {
                    problems.add("tensor '" + name + "' has mask shape " + Arrays.toString(m.shape()) + " but is " + b.describe());
                }
            });
        }
        SparseMask.throwIfAny(problems, "cannot diff the two models");

        Map<String, TensorPatch> out = new LinkedHashMap<>();
        base.forEach((name, b) -> {
            if (mask != null && !mask.tensors().containsKey(name)) {
                return;
            }
            String what = "tensor '" + name + "'";
            MemorySegment before = HostTensors.bytes(b, what);
            MemorySegment after = HostTensors.bytes(tuned.get(name), what);
            int size = b.dtype().byteSize();
            Changes changes = new Changes();
            if (mask == null) {
                scan(before, after, size, changes);
            } else {
                mask.get(name).forEachIndex(i -> {
                    long at = i * size;
                    if (MemorySegment.mismatch(before, at, at + size, after, at, at + size) != -1) {
                        changes.add(i, before, after, size);
                    }
                });
            }
            if (changes.indices.size() > 0) {
                out.put(name, new TensorPatch(b.dtype(), b.shape(), changes.indices.toArray(), changes.values.toByteArray(),
                        changes.baseValues.toByteArray()));
            }
        });
        return new Patch(ModelDigest.of(base), description, out);
    }

    /** Finds differing elements with MemorySegment.mismatch, which skips equal runs at memory speed. */
    private static void scan(MemorySegment before, MemorySegment after, int size, Changes changes) {
        long length = before.byteSize();
        long from = 0;
        while (from < length) {
            long offset = MemorySegment.mismatch(before, from, length, after, from, length);
            if (offset < 0) {
                return;
            }
            long index = (from + offset) / size;
            changes.add(index, before, after, size);
            from = (index + 1) * size;
        }
    }
}
