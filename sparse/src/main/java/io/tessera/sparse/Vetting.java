package io.tessera.sparse;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * A maintainer's first look at a contributed patch file, in seconds: does it apply to this base, is
 * every value finite, what does it touch and by how much, how big is it, and what does it do to a
 * metric the caller computes (e.g. held-out accuracy). A malformed file is not vetted: loading it
 * throws, as {@link Patch#load} does.
 */
public final class Vetting {
    private Vetting() {}

    /** {@link #report(Map, Path, ToDoubleFunction, VetPolicy)} with {@link VetPolicy#DEFAULT}. */
    public static VetReport report(Map<String, Tensor> base, Path patchFile, ToDoubleFunction<Map<String, Tensor>> evaluate)
            throws IOException {
        return report(base, patchFile, evaluate, VetPolicy.DEFAULT);
    }

    /**
     * Vets {@code patchFile} against {@code base}. {@code evaluate} runs on the base and, when the patch
     * applies cleanly, on a patched copy (freed afterwards); the base itself is never modified.
     */
    public static VetReport report(Map<String, Tensor> base, Path patchFile, ToDoubleFunction<Map<String, Tensor>> evaluate,
                                   VetPolicy policy) throws IOException {
        long bytes = Files.size(patchFile);
        Patch patch = Patch.load(patchFile);
        String actual = ModelDigest.of(base);
        List<String> problems = patch.incompatibilities(base);
        List<VetReport.TensorChange> changes = new ArrayList<>();
        patch.tensors().forEach((name, t) -> {
            Tensor target = base.get(name);
            if (target != null && target.dtype() == t.dtype() && Arrays.equals(target.shape(), t.shape())) {
                changes.add(change(name, t, HostTensors.bytes(target, "tensor '" + name + "'")));
            }
        });

        List<VetReport.Flag> flags = new ArrayList<>();
        if (!patch.baseDigest().equals(actual)) {
            flags.add(new VetReport.Flag(VetReport.FlagKind.WRONG_BASE, null, "the patch was made for base " + patch.baseDigest()
                    + " but the model's digest is " + actual));
        }
        problems.forEach(p -> flags.add(new VetReport.Flag(VetReport.FlagKind.DOES_NOT_APPLY, null, p)));
        for (VetReport.TensorChange c : changes) {
            if (c.nonFinite() > 0) {
                flags.add(new VetReport.Flag(VetReport.FlagKind.NON_FINITE, c.name(), "tensor '" + c.name() + "' gets "
                        + c.nonFinite() + " non-finite values"));
            }
            if (policy.frozen().contains(c.name())) {
                flags.add(new VetReport.Flag(VetReport.FlagKind.FROZEN, c.name(), "tensor '" + c.name() + "' is frozen but the patch"
                        + " changes " + c.entries() + " of its entries"));
            }
        }
        flags.addAll(outliers(changes, policy.outlierFactor()));

        double before = evaluate.applyAsDouble(base);
        double after = Double.NaN;
        if (patch.baseDigest().equals(actual) && problems.isEmpty()) {
            try (TensorScope _ = TensorScope.open()) {
                after = evaluate.applyAsDouble(patch.apply(base));
            }
        }
        return new VetReport(patchFile, bytes, patch.description(), patch.baseDigest(), actual, problems, changes, before, after,
                flags);
    }

    private static VetReport.TensorChange change(String name, TensorPatch t, MemorySegment base) {
        double squares = 0;
        double maxAbs = 0;
        long nonFinite = 0;
        for (int j = 0; j < t.count(); j++) {
            double value = t.value(j);
            if (!Double.isFinite(value)) {
                nonFinite++;
                continue;
            }
            double d = value - Elements.get(base, t.dtype(), t.index(j));
            squares += d * d;
            maxAbs = Math.max(maxAbs, Math.abs(d));
        }
        return new VetReport.TensorChange(name, t.count(), t.numel(), Math.sqrt(squares), maxAbs, nonFinite);
    }

    /** Tensors whose RMS change exceeds {@code factor} times the median RMS of the other touched tensors. */
    private static List<VetReport.Flag> outliers(List<VetReport.TensorChange> changes, double factor) {
        List<VetReport.Flag> flags = new ArrayList<>();
        for (VetReport.TensorChange c : changes) {
            double[] others = changes.stream().filter(o -> o != c).mapToDouble(VetReport.TensorChange::rms).sorted().toArray();
            if (others.length == 0) {
                continue;
            }
            double median = others.length % 2 == 1 ? others[others.length / 2]
                    : (others[others.length / 2 - 1] + others[others.length / 2]) / 2;
            if (c.rms() > factor * median) {
                flags.add(new VetReport.Flag(VetReport.FlagKind.NORM_OUTLIER, c.name(), String.format(Locale.ROOT,
                        "tensor '%s' changes by %.4g RMS per entry, %.1f times the median %.4g of the other tensors", c.name(),
                        c.rms(), median == 0 ? Double.POSITIVE_INFINITY : c.rms() / median, median)));
            }
        }
        return flags;
    }
}
