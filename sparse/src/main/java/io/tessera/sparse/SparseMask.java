package io.tessera.sparse;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BinaryOperator;

/**
 * A fixed sparse subset of a model's parameters: for each named tensor, the selected entries (a
 * {@link TensorMask}). Built from index lists ({@link #fromIndices}, which selectors such as fisher/'s
 * FISH use), from boolean tensors, or by set operations; saved as a safetensors file. Immutable.
 *
 * <p>File format ({@link #save}): per tensor either {@code <name>.indices} (int32 when the tensor has
 * fewer than 2^31 elements, else int64; sorted, unique) or {@code <name>.bitmap} (u8, bit i % 8 of byte
 * i / 8), whichever is smaller; {@code __metadata__} holds {@code kind = "sparse-mask"},
 * {@code format_version = "1"}, {@code tensors} (JSON: name -> {"shape": [...]}) and
 * {@code content_sha256}.
 */
public final class SparseMask {
    private final SortedMap<String, TensorMask> tensors;

    private SparseMask(SortedMap<String, TensorMask> tensors) {
        this.tensors = Collections.unmodifiableSortedMap(tensors);
    }

    /** A mask of the given per-tensor masks. */
    public static SparseMask of(Map<String, TensorMask> tensors) {
        return new SparseMask(new TreeMap<>(tensors));
    }

    /**
     * A mask from per-tensor shapes and sorted, unique flat indices (the factory for selectors). Both maps
     * must name the same tensors.
     *
     * @throws IllegalArgumentException listing every name missing from either map and every invalid index list
     */
    public static SparseMask fromIndices(Map<String, long[]> shapes, Map<String, long[]> sortedIndices) {
        List<String> problems = new ArrayList<>(nameMismatches(shapes.keySet(), sortedIndices.keySet(), "shapes", "indices"));
        TreeMap<String, TensorMask> out = new TreeMap<>();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long[] indices = sortedIndices.get(e.getKey());
            if (indices == null) {
                continue;
            }
            try {
                out.put(e.getKey(), TensorMask.ofIndices(e.getValue(), indices));
            } catch (IllegalArgumentException ex) {
                problems.add("tensor '" + e.getKey() + "': " + ex.getMessage());
            }
        }
        throwIfAny(problems, "cannot build a sparse mask");
        return new SparseMask(out);
    }

    /** A mask selecting the entries that are non-zero in BOOL or U8 tensors (contiguous, on the CPU). */
    public static SparseMask fromBooleans(Map<String, Tensor> selected) {
        TreeMap<String, TensorMask> out = new TreeMap<>();
        for (Map.Entry<String, Tensor> e : selected.entrySet()) {
            Tensor t = e.getValue();
            if (t.dtype() != DType.BOOL && t.dtype() != DType.U8) {
                throw new IllegalArgumentException("tensor '" + e.getKey() + "': a mask is built from bool or u8 tensors, not "
                        + t.describe());
            }
            MemorySegment bytes = HostTensors.bytes(t, "tensor '" + e.getKey() + "'");
            LongList indices = new LongList();
            for (long i = 0; i < bytes.byteSize(); i++) {
                if (bytes.get(ValueLayout.JAVA_BYTE, i) != 0) {
                    indices.add(i);
                }
            }
            out.put(e.getKey(), TensorMask.ofIndices(t.shape(), indices.toArray()));
        }
        return new SparseMask(out);
    }

    /** Reads a mask saved by {@link #save}, validating everything (see {@link MaskFile}). */
    public static SparseMask load(Path file) throws IOException {
        return MaskFile.read(file);
    }

    /** Writes the mask atomically (temporary file, fsync, rename). */
    public void save(Path file) throws IOException {
        MaskFile.write(file, this);
    }

    /** The masked tensors' names, sorted. */
    public SortedSet<String> names() {
        return Collections.unmodifiableSortedSet(new TreeSet<>(tensors.keySet()));
    }

    /** Every tensor's mask by name, sorted by name. */
    public SortedMap<String, TensorMask> tensors() {
        return tensors;
    }

    /** The mask of tensor {@code name}; throws naming the tensor when the mask does not cover it. */
    public TensorMask get(String name) {
        TensorMask m = tensors.get(name);
        if (m == null) {
            throw new NoSuchElementException("the mask has no tensor '" + name + "' (it covers " + tensors.size() + " tensors)");
        }
        return m;
    }

    /** Selected entries over all tensors. */
    public long count() {
        return tensors.values().stream().mapToLong(TensorMask::count).sum();
    }

    /** Elements over all masked tensors. */
    public long numel() {
        return tensors.values().stream().mapToLong(TensorMask::numel).sum();
    }

    /** count / numel over all tensors (0 when empty). */
    public double density() {
        long n = numel();
        return n == 0 ? 0 : (double) count() / n;
    }

    public SparseMask union(SparseMask other) {
        return combine(other, TensorMask::union, "union");
    }

    public SparseMask intersection(SparseMask other) {
        return combine(other, TensorMask::intersection, "intersection");
    }

    /** The entries this mask selects and {@code other} does not. */
    public SparseMask difference(SparseMask other) {
        return combine(other, TensorMask::difference, "difference");
    }

    /** Per tensor; the two masks must cover the same tensors with the same shapes (every mismatch is reported). */
    private SparseMask combine(SparseMask other, BinaryOperator<TensorMask> op, String what) {
        List<String> problems = new ArrayList<>(nameMismatches(tensors.keySet(), other.tensors.keySet(), "this mask", "the other mask"));
        for (Map.Entry<String, TensorMask> e : tensors.entrySet()) {
            TensorMask theirs = other.tensors.get(e.getKey());
            if (theirs != null && !Arrays.equals(e.getValue().shape(), theirs.shape())) {
                problems.add("tensor '" + e.getKey() + "' has shape " + Arrays.toString(e.getValue().shape())
                        + " here but " + Arrays.toString(theirs.shape()) + " in the other mask");
            }
        }
        throwIfAny(problems, "cannot take the " + what + " of two masks");
        TreeMap<String, TensorMask> out = new TreeMap<>();
        tensors.forEach((name, mine) -> out.put(name, op.apply(mine, other.tensors.get(name))));
        return new SparseMask(out);
    }

    /** "only in <a>: x" and "only in <b>: y" lines for names in one set but not the other. */
    static List<String> nameMismatches(Set<String> a, Set<String> b, String aName, String bName) {
        List<String> problems = new ArrayList<>();
        new TreeSet<>(a).stream().filter(n -> !b.contains(n)).forEach(n -> problems.add("tensor '" + n + "' only in " + aName));
        new TreeSet<>(b).stream().filter(n -> !a.contains(n)).forEach(n -> problems.add("tensor '" + n + "' only in " + bName));
        return problems;
    }

    static void throwIfAny(List<String> problems, String what) {
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(what + " (" + problems.size() + " problem" + (problems.size() == 1 ? "" : "s")
                    + "):\n  " + String.join("\n  ", problems));
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SparseMask m && tensors.equals(m.tensors);
    }

    @Override
    public int hashCode() {
        return tensors.hashCode();
    }

    /** One line per tensor, then the total. */
    @Override
    public String toString() {
        StringBuilder s = new StringBuilder();
        tensors.forEach((name, m) -> s.append(name).append(' ').append(m).append('\n'));
        return s.append(String.format("total: %d of %d (%.3f%%)", count(), numel(), 100 * density())).toString();
    }
}
