package io.tessera.sparse;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A sparse change to a model: for each touched tensor, flat indices and new values, plus the
 * {@link ModelDigest} of the base model it was made from. A patch refuses to apply to any other model.
 *
 * <p><b>Revert</b> writes back the base values. A patch made by {@link #diff} carries them; a patch read
 * from a file carries them only if it was saved with them (by default files hold only indices and new
 * values, to stay small), and otherwise learns them with {@link #withBaseValues} from the base model.
 * Revert checks that the model really holds the patch's values first, so it never silently undoes
 * something else.
 *
 * <p>Models are maps of names to contiguous CPU tensors (a state dict). {@link #apply} and {@link #revert}
 * return new tensors, allocated in the current {@code TensorScope} if one is open (else the caller closes
 * them); {@link #applyInPlace} and {@link #revertInPlace} write into the given tensors.
 */
public final class Patch {
    private final String baseDigest;
    private final String description;
    private final SortedMap<String, TensorPatch> tensors;

    Patch(String baseDigest, String description, Map<String, TensorPatch> tensors) {
        this.baseDigest = baseDigest;
        this.description = description;
        this.tensors = Collections.unmodifiableSortedMap(new TreeMap<>(tensors));
    }

    /** Every entry whose bits differ between {@code base} and {@code tuned} (same names, dtypes and shapes). */
    public static Patch diff(Map<String, Tensor> base, Map<String, Tensor> tuned, String description) {
        return PatchDiff.compute(base, tuned, null, description);
    }

    /** As {@link #diff(Map, Map, String)}, keeping only entries inside {@code mask}; changes outside it are dropped. */
    public static Patch diff(Map<String, Tensor> base, Map<String, Tensor> tuned, SparseMask mask, String description) {
        return PatchDiff.compute(base, tuned, mask, description);
    }

    /**
     * One patch that sets what {@code patches} set, applied in order. All must share a base. Where several
     * set one entry to different values (bitwise), {@code policy} decides; equal values never conflict.
     */
    public static Patch compose(ConflictPolicy policy, List<Patch> patches) {
        return PatchComposition.compose(policy, patches);
    }

    /**
     * One patch against {@code base} for a chain of patches, each made against the model the ones before it
     * produce (contributors building on each other's work): applied in turn, each checked against its
     * predecessor's result by digest, the net change kept (an entry set and later set back drops out). It
     * carries base values, so it reverts to {@code base}.
     *
     * @throws IllegalArgumentException naming the first patch whose base is not the model before it
     */
    public static Patch chain(Map<String, Tensor> base, List<Patch> patches, String description) {
        if (patches.isEmpty()) {
            throw new IllegalArgumentException("a chain needs at least one patch");
        }
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> model = base;
            for (int i = 0; i < patches.size(); i++) {
                try {
                    model = patches.get(i).apply(model);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("patch " + i + " ('" + patches.get(i).description() + "') of the chain does not "
                            + "apply to the model before it: " + e.getMessage(), e);
                }
            }
            return diff(base, model, description).withBaseValues(base);
        }
    }

    /**
     * Reads a patch file (plain or zstd-compressed), validating everything (see {@link PatchFile}); a
     * compressed file may decompress to at most 4 GiB.
     */
    public static Patch load(Path file) throws IOException {
        return PatchFile.read(file, PatchFile.DEFAULT_MAX_DECOMPRESSED_BYTES);
    }

    /** As {@link #load(Path)}, refusing compressed files that decompress to more than {@code maxDecompressedBytes}. */
    public static Patch load(Path file, long maxDecompressedBytes) throws IOException {
        return PatchFile.read(file, maxDecompressedBytes);
    }

    /** Writes the patch atomically, optionally zstd-compressed (see {@link PatchFile}), without base values. */
    /**
     * Whether {@code file} holds a patch rather than a model (a compressed file, or one whose metadata says so),
     * without validating it: {@link #load} does that.
     */
    public static boolean isPatchFile(Path file) throws IOException {
        return PatchFile.isPatch(file);
    }

    public void save(Path file, Compression compression) throws IOException {
        PatchFile.write(file, this, compression, false);
    }

    /**
     * As {@link #save(Path, Compression)}, with {@code withBaseValues} also the values the patch replaces, so
     * that the loaded patch can revert a patched model without the base. @throws IllegalStateException if
     * {@code withBaseValues} and this patch does not carry them
     */
    public void save(Path file, Compression compression, boolean withBaseValues) throws IOException {
        PatchFile.write(file, this, compression, withBaseValues);
    }

    public String baseDigest() {
        return baseDigest;
    }

    public String description() {
        return description;
    }

    /** The touched tensors by name, sorted. */
    public SortedMap<String, TensorPatch> tensors() {
        return tensors;
    }

    /** Patched entries over all tensors. */
    public long count() {
        return tensors.values().stream().mapToLong(TensorPatch::count).sum();
    }

    public boolean hasBaseValues() {
        return tensors.values().stream().allMatch(TensorPatch::hasBaseValues);
    }

    /** The entries this patch sets, as a mask over its tensors. */
    public SparseMask support() {
        Map<String, TensorMask> masks = new LinkedHashMap<>();
        tensors.forEach((name, t) -> masks.put(name, t.support()));
        return SparseMask.of(masks);
    }

    /** A copy of {@code base} with this patch applied. @throws IllegalArgumentException for the wrong base */
    public Map<String, Tensor> apply(Map<String, Tensor> base) {
        checkBase(base);
        Map<String, Tensor> out = copy(base);
        write(out, false);
        return out;
    }

    /** Applies this patch to {@code model}'s own (writable) tensors. @throws IllegalArgumentException for the wrong base */
    public void applyInPlace(Map<String, Tensor> model) {
        checkBase(model);
        write(model, false);
    }

    /** A copy of {@code patched} with the base values written back. */
    public Map<String, Tensor> revert(Map<String, Tensor> patched) {
        checkRevertible(patched);
        Map<String, Tensor> out = copy(patched);
        write(out, true);
        return out;
    }

    /** Writes the base values back into {@code model}'s own tensors. */
    public void revertInPlace(Map<String, Tensor> model) {
        checkRevertible(model);
        write(model, true);
    }

    /**
     * A copy of tensor {@code name} of a model with this patch's values written in (or, with {@code baseValues}, the
     * values it replaced), for writing a patched or reverted model one tensor at a time after {@link #checkBase} or
     * {@link #checkRevertible}. Allocated in the current scope. @throws IllegalArgumentException if the patch does not
     * touch {@code name} or {@code tensor} has another dtype or shape
     */
    public Tensor writtenInto(String name, Tensor tensor, boolean baseValues) {
        TensorPatch t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException("patch '" + description + "' does not touch tensor '" + name + "'");
        }
        if (tensor.dtype() != t.dtype() || !Arrays.equals(tensor.shape(), t.shape())) {
            throw new IllegalArgumentException("patch '" + description + "': tensor '" + name + "' is " + t.dtype()
                    + Arrays.toString(t.shape()) + " in the patch but " + tensor.describe() + " in the model");
        }
        if (baseValues && !t.hasBaseValues()) {
            throw new IllegalStateException("patch '" + description + "' does not carry base values for tensor '" + name + "'");
        }
        Map<String, Tensor> one = copy(Map.of(name, tensor));
        writeTensor(name, t, one.get(name), baseValues);
        return one.get(name);
    }

    /** This patch, carrying the values {@code base} holds at its entries (so it can be reverted). */
    public Patch withBaseValues(Map<String, Tensor> base) {
        checkBase(base);
        Map<String, TensorPatch> out = new LinkedHashMap<>();
        tensors.forEach((name, t) -> {
            MemorySegment source = HostTensors.bytes(base.get(name), "tensor '" + name + "'");
            int size = t.dtype().byteSize();
            byte[] values = new byte[t.count() * size];
            MemorySegment target = MemorySegment.ofArray(values);
            for (int j = 0; j < t.count(); j++) {
                MemorySegment.copy(source, t.index(j) * size, target, (long) j * size, size);
            }
            out.put(name, t.withBaseValues(values));
        });
        return new Patch(baseDigest, description, out);
    }

    /** Every tensor carries the contributor's Fisher at its entries ({@link #withFisher}). */
    public boolean hasFisher() {
        return !tensors.isEmpty() && tensors.values().stream().allMatch(TensorPatch::hasFisher);
    }

    /**
     * This patch carrying {@code fisher}'s values at its entries: the statistics a Fisher merge weighs this
     * contribution by, published without the data they came from. {@code fisher} holds a finite, non-negative
     * floating tensor of each patched tensor's shape. @throws IllegalArgumentException naming a missing,
     * misshapen or non-finite tensor
     */
    public Patch withFisher(Map<String, Tensor> fisher) {
        Map<String, TensorPatch> out = new LinkedHashMap<>();
        tensors.forEach((name, t) -> {
            Tensor f = fisher.get(name);
            if (f == null || !f.dtype().isFloatingPoint() || !Arrays.equals(f.shape(), t.shape())) {
                throw new IllegalArgumentException("the Fisher needs a floating tensor '" + name + "' of shape "
                        + Arrays.toString(t.shape()) + ", got " + (f == null ? "none" : f.describe()));
            }
            MemorySegment source = HostTensors.bytes(f, "Fisher tensor '" + name + "'");
            float[] values = new float[t.count()];
            for (int j = 0; j < values.length; j++) {
                values[j] = (float) Elements.get(source, f.dtype(), t.index(j));
            }
            try {
                out.put(name, t.withFisher(values));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("Fisher tensor '" + name + "': " + e.getMessage(), e);
            }
        });
        return new Patch(baseDigest, description, out);
    }

    /**
     * The contributor's Fisher as a dense F32 diagonal over every tensor of {@code base}: the carried values at
     * the patched entries, 0 elsewhere (where the contribution equals the base, so its weight there only matters
     * through the merge's floor). Allocated in the caller's scope. @throws IllegalStateException without Fisher
     */
    public Map<String, Tensor> denseFisher(Map<String, Tensor> base) {
        if (!hasFisher()) {
            throw new IllegalStateException("patch '" + description + "' carries no Fisher (tessera diff --fisher)");
        }
        checkBase(base);
        Map<String, Tensor> out = new LinkedHashMap<>();
        base.forEach((name, b) -> {
            float[] dense = new float[Math.toIntExact(b.numel())];
            TensorPatch t = tensors.get(name);
            for (int j = 0; t != null && j < t.count(); j++) {
                dense[(int) t.index(j)] = t.fisher(j);
            }
            out.put(name, Tensor.of(dense, b.shape()));
        });
        return out;
    }

    /**
     * Why this patch cannot be written into {@code model} whatever its digest: tensors it lacks, or whose
     * dtype or shape differ. Empty when it fits.
     */
    List<String> incompatibilities(Map<String, Tensor> model) {
        List<String> problems = new ArrayList<>();
        tensors.forEach((name, t) -> {
            Tensor target = model.get(name);
            if (target == null) {
                problems.add("tensor '" + name + "' is patched but the model has no such tensor");
            } else if (target.dtype() != t.dtype() || !Arrays.equals(target.shape(), t.shape())) {
                problems.add("tensor '" + name + "' is " + t.dtype() + Arrays.toString(t.shape()) + " in the patch but "
                        + target.describe() + " in the model");
            }
        });
        return problems;
    }

    /**
     * Checks that {@code model} is this patch's base: its digest, and the names, dtypes and shapes the patch touches.
     * @throws IllegalArgumentException naming what differs
     */
    public void checkBase(Map<String, Tensor> model) {
        String actual = ModelDigest.of(model);
        if (!actual.equals(baseDigest)) {
            throw new IllegalArgumentException("patch '" + description + "' was made for the base model with digest "
                    + baseDigest + ", but this model's digest is " + actual);
        }
        SparseMask.throwIfAny(incompatibilities(model), "patch '" + description + "' does not fit the model");
    }

    /**
     * Revert needs the base values and a model that holds exactly this patch's values at its entries.
     * @throws IllegalArgumentException naming the tensors that differ @throws IllegalStateException without base values
     */
    public void checkRevertible(Map<String, Tensor> model) {
        if (!hasBaseValues()) {
            throw new IllegalStateException("patch '" + description + "' does not carry base values; get them with"
                    + " withBaseValues(base) before reverting");
        }
        List<String> problems = incompatibilities(model);
        if (problems.isEmpty()) {
            tensors.forEach((name, t) -> {
                MemorySegment held = HostTensors.bytes(model.get(name), "tensor '" + name + "'");
                MemorySegment values = MemorySegment.ofArray(t.rawValues());
                int size = t.dtype().byteSize();
                long differing = 0;
                long first = -1;
                for (int j = 0; j < t.count(); j++) {
                    long at = t.index(j) * size;
                    if (MemorySegment.mismatch(held, at, at + size, values, (long) j * size, (long) (j + 1) * size) != -1) {
                        differing++;
                        first = first < 0 ? t.index(j) : first;
                    }
                }
                if (differing > 0) {
                    problems.add("tensor '" + name + "' differs from the patch's values at " + differing + " of " + t.count()
                            + " entries (first at flat index " + first + ")");
                }
            });
        }
        SparseMask.throwIfAny(problems, "cannot revert patch '" + description + "': the model does not hold it");
    }

    private void write(Map<String, Tensor> model, boolean baseValues) {
        tensors.forEach((name, t) -> writeTensor(name, t, model.get(name), baseValues));
    }

    private static void writeTensor(String name, TensorPatch t, Tensor into, boolean baseValues) {
        MemorySegment target = HostTensors.writableBytes(into, "tensor '" + name + "'");
        MemorySegment source = MemorySegment.ofArray(baseValues ? t.rawBaseValues() : t.rawValues());
        int size = t.dtype().byteSize();
        for (int j = 0; j < t.count(); j++) {
            MemorySegment.copy(source, (long) j * size, target, t.index(j) * size, size);
        }
    }

    /** New tensors with the same bytes as {@code model}'s (in the current scope, if any). */
    private static Map<String, Tensor> copy(Map<String, Tensor> model) {
        Map<String, MemorySegment> sources = new LinkedHashMap<>();
        model.forEach((name, t) -> sources.put(name, HostTensors.bytes(t, "tensor '" + name + "'"))); // all checked first
        Map<String, Tensor> out = new LinkedHashMap<>();
        model.forEach((name, t) -> {
            Tensor c = Tensor.empty(t.dtype(), t.shape());
            MemorySegment.copy(sources.get(name), 0, HostTensors.writableBytes(c, name), 0, c.numel() * c.dtype().byteSize());
            out.put(name, c);
        });
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Patch p && baseDigest.equals(p.baseDigest) && description.equals(p.description)
                && tensors.equals(p.tensors);
    }

    @Override
    public int hashCode() {
        return baseDigest.hashCode() * 31 + tensors.hashCode();
    }

    @Override
    public String toString() {
        return "patch '" + description + "' (" + count() + " entries in " + tensors.size() + " tensors, base " + baseDigest + ")";
    }
}
