package io.tessera.sparse;

import io.tessera.engine.DType;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** {@link Patch#compose}: merges patches of one base entry by entry, in order, resolving conflicts by policy. */
final class PatchComposition {
    /** Conflicts quoted in an ERROR message; the rest are counted. */
    private static final int QUOTED_CONFLICTS = 10;

    private PatchComposition() {}

    static Patch compose(ConflictPolicy policy, List<Patch> patches) {
        if (patches.isEmpty()) {
            throw new IllegalArgumentException("compose needs at least one patch");
        }
        String base = patches.getFirst().baseDigest();
        List<String> problems = new ArrayList<>();
        for (int p = 1; p < patches.size(); p++) {
            if (!patches.get(p).baseDigest().equals(base)) {
                problems.add("patch " + p + " ('" + patches.get(p).description() + "') has base " + patches.get(p).baseDigest()
                        + " but patch 0 has base " + base);
            }
        }
        TreeSet<String> names = new TreeSet<>();
        patches.forEach(p -> names.addAll(p.tensors().keySet()));
        for (String name : names) {
            TensorPatch first = null;
            for (Patch p : patches) {
                TensorPatch t = p.tensors().get(name);
                if (first == null) {
                    first = t;
                } else if (t != null && (t.dtype() != first.dtype() || !Arrays.equals(t.shape(), first.shape()))) {
                    problems.add("tensor '" + name + "' is " + first.dtype() + Arrays.toString(first.shape()) + " in one patch and "
                            + t.dtype() + Arrays.toString(t.shape()) + " in another");
                }
            }
        }
        SparseMask.throwIfAny(problems, "cannot compose patches of different bases or shapes");

        List<String> conflicts = new ArrayList<>();
        long[] conflictCount = {0};
        Map<String, TensorPatch> out = new LinkedHashMap<>();
        for (String name : names) {
            List<TensorPatch> parts = new ArrayList<>();
            patches.forEach(p -> {
                TensorPatch t = p.tensors().get(name);
                if (t != null) {
                    parts.add(t);
                }
            });
            out.put(name, merge(name, parts, policy, conflicts, conflictCount));
        }
        if (conflictCount[0] > 0) {
            throw new IllegalArgumentException("patches set " + conflictCount[0] + " entries to different values (compose with"
                    + " LAST_WINS or AVERAGE to resolve them):\n  " + String.join("\n  ", conflicts)
                    + (conflictCount[0] > conflicts.size() ? "\n  ..." : ""));
        }
        List<String> descriptions = patches.stream().map(Patch::description).toList();
        return new Patch(base, "compose " + policy + ": " + String.join(" + ", descriptions), out);
    }

    /** A k-way merge of sorted index lists; the parts are in patch order, so the last one present wins. */
    private static TensorPatch merge(String name, List<TensorPatch> parts, ConflictPolicy policy, List<String> conflicts,
                                     long[] conflictCount) {
        DType dtype = parts.getFirst().dtype();
        int size = dtype.byteSize();
        boolean withBase = parts.stream().allMatch(TensorPatch::hasBaseValues);
        int[] cursor = new int[parts.size()];
        LongList indices = new LongList();
        ByteArrayOutputStream values = new ByteArrayOutputStream();
        ByteArrayOutputStream baseValues = new ByteArrayOutputStream();
        byte[] element = new byte[size];
        while (true) {
            long next = Long.MAX_VALUE;
            for (int p = 0; p < parts.size(); p++) {
                if (cursor[p] < parts.get(p).count()) {
                    next = Math.min(next, parts.get(p).index(cursor[p]));
                }
            }
            if (next == Long.MAX_VALUE) {
                break;
            }
            List<Integer> setters = new ArrayList<>();
            for (int p = 0; p < parts.size(); p++) {
                if (cursor[p] < parts.get(p).count() && parts.get(p).index(cursor[p]) == next) {
                    setters.add(p);
                }
            }
            int last = setters.getLast();
            System.arraycopy(parts.get(last).rawValues(), cursor[last] * size, element, 0, size);
            boolean conflict = setters.stream().anyMatch(p -> !Arrays.equals(parts.get(p).rawValues(), cursor[p] * size,
                    (cursor[p] + 1) * size, element, 0, size));
            if (conflict) {
                resolve(name, next, parts, setters, cursor, policy, element, conflicts, conflictCount);
            }
            indices.add(next);
            values.writeBytes(element);
            if (withBase) {
                baseValues.write(parts.get(last).rawBaseValues(), cursor[last] * size, size);
            }
            setters.forEach(p -> cursor[p]++);
        }
        TensorPatch first = parts.getFirst();
        return new TensorPatch(dtype, first.shape(), indices.toArray(), values.toByteArray(),
                withBase ? baseValues.toByteArray() : null);
    }

    /** Under ERROR records the conflict; under AVERAGE writes the mean into {@code element}; LAST_WINS keeps it. */
    private static void resolve(String name, long index, List<TensorPatch> parts, List<Integer> setters, int[] cursor,
                                ConflictPolicy policy, byte[] element, List<String> conflicts, long[] conflictCount) {
        switch (policy) {
            case ERROR -> {
                conflictCount[0]++;
                if (conflicts.size() < QUOTED_CONFLICTS) {
                    List<String> values = setters.stream().map(p -> String.valueOf(parts.get(p).value(cursor[p]))).toList();
                    conflicts.add("tensor '" + name + "' flat index " + index + ": " + String.join(", ", values)
                            + " (in patch order)");
                }
            }
            case LAST_WINS -> { }
            case AVERAGE -> {
                double sum = 0;
                for (int p : setters) {
                    sum += parts.get(p).value(cursor[p]);
                }
                Elements.set(MemorySegment.ofArray(element), parts.getFirst().dtype(), 0, sum / setters.size());
            }
        }
    }
}
