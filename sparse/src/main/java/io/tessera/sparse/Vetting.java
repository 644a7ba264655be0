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
 * A maintainer's look at a contributed patch file: does it apply to this base, is every value finite,
 * what does it touch and by how much, how big is it, what does it do to a metric the caller computes
 * (e.g. held-out accuracy), and, given a {@link VetContext}, the evidence items of {@link VetReport#checks}:
 * robust z-scores of its norms against accepted patches, cosines to other pending patches and to the root
 * set's reference update, its Fisher footprint and predicted loss change, per-class accuracy, trigger
 * probes and int8 survival. Each item has a verdict; none decides: the report never accepts a patch. The
 * evidence needs a patch that applies cleanly with finite values; otherwise only integrity is reported. A
 * malformed file is not vetted: loading it throws, as {@link Patch#load} does.
 */
public final class Vetting {
    private Vetting() {}

    /** {@link #report(Map, Path, ToDoubleFunction, VetPolicy)} with {@link VetPolicy#DEFAULT}. */
    public static VetReport report(Map<String, Tensor> base, Path patchFile, ToDoubleFunction<Map<String, Tensor>> evaluate)
            throws IOException {
        return report(base, patchFile, evaluate, VetPolicy.DEFAULT);
    }

    /** {@link #report(Map, Path, ToDoubleFunction, VetPolicy, VetContext)} with nothing to compare with. */
    public static VetReport report(Map<String, Tensor> base, Path patchFile, ToDoubleFunction<Map<String, Tensor>> evaluate,
                                   VetPolicy policy) throws IOException {
        return report(base, patchFile, evaluate, policy, VetContext.NONE);
    }

    /**
     * Vets {@code patchFile} against {@code base}. {@code evaluate} (or null: no metric) and the context's
     * classifier run on the base and, when the patch applies cleanly, on a patched copy (freed afterwards); the
     * base itself is never modified. The accepted and pending patches are measured by their recorded base
     * values, or else against {@code base}, whose digest they must then record.
     */
    public static VetReport report(Map<String, Tensor> base, Path patchFile, ToDoubleFunction<Map<String, Tensor>> evaluate,
                                   VetPolicy policy, VetContext context) throws IOException {
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

        boolean applies = patch.baseDigest().equals(actual) && problems.isEmpty();
        boolean finite = changes.stream().allMatch(c -> c.nonFinite() == 0);
        double before = evaluate == null ? Double.NaN : evaluate.applyAsDouble(base);
        double after = Double.NaN;
        List<VetReport.Check> checks = new ArrayList<>();
        checks.add(integrity(flags));
        List<VetReport.TensorChange> scored = changes;
        boolean assess = applies && finite; // evidence needs deltas to this base, and finite ones
        VetContext.Classifier classifier = assess ? context.classifier() : null;
        Map<String, int[]> predictedBefore = classifier == null ? null : classifier.predict(base);
        Map<String, int[]> predictedAfter = null;
        if (applies) {
            try (TensorScope _ = TensorScope.open()) {
                Map<String, Tensor> patched = patch.apply(base);
                after = evaluate == null ? Double.NaN : evaluate.applyAsDouble(patched);
                predictedAfter = classifier == null ? null : classifier.predict(patched);
            }
        }
        if (assess) {
            Evidence.Delta delta = Evidence.Delta.of(patchFile.toString(), patch, base);
            List<Evidence.Delta> accepted = deltas(context.accepted(), base, actual);
            scored = Evidence.withZScores(changes, accepted, policy.minHistory());
            checks.add(Evidence.normZ(scored, accepted.size(), policy));
            checks.add(Evidence.duplicates(delta, deltas(context.pending(), base, actual), policy));
            checks.add(Evidence.referenceCosine(delta, context.rootGradient(), policy));
            checks.add(Evidence.fisherFootprint(delta, context.rootFisher(), policy));
            checks.add(Evidence.predictedLoss(delta, context.rootGradient(), context.rootFisher(), policy));
            checks.add(Evidence.int8Survival(base, delta, policy));
            if (classifier == null) {
                checks.add(Evidence.skipped("per-class accuracy", "no held-out data (give --data)"));
                checks.add(Evidence.skipped("trigger probes", "no held-out data (give --data)"));
            } else {
                int[] labels = classifier.labels();
                checks.add(Evidence.classDrop(labels, classifier.classes(), predictedBefore.get(VetContext.Classifier.CLEAN),
                        predictedAfter.get(VetContext.Classifier.CLEAN), policy));
                checks.add(Evidence.triggerPull(labels, classifier.classes(), predictedBefore, predictedAfter, policy));
            }
        }
        return new VetReport(patchFile, bytes, patch.description(), patch.baseDigest(), actual, problems, scored, before, after,
                flags, checks);
    }

    /** Integrity as a check: a wrong base, a misfit, a non-finite value or a frozen tensor fails; outliers only warn. */
    private static VetReport.Check integrity(List<VetReport.Flag> flags) {
        boolean failed = flags.stream().anyMatch(f -> f.kind() != VetReport.FlagKind.NORM_OUTLIER);
        VetReport.Verdict verdict = failed ? VetReport.Verdict.FAIL : flags.isEmpty() ? VetReport.Verdict.PASS : VetReport.Verdict.WARN;
        return new VetReport.Check("integrity", verdict, flags.size(), flags.isEmpty() ? "applies to this base, every value finite"
                : flags.size() + " flag(s): " + String.join("; ", flags.stream().map(VetReport.Flag::message).toList()));
    }

    /** Other patches' changes: by their recorded base values, else against {@code base}, which they must have been made for. */
    private static List<Evidence.Delta> deltas(List<Path> files, Map<String, Tensor> base, String digest) throws IOException {
        List<Evidence.Delta> out = new ArrayList<>();
        for (Path file : files) {
            Patch p = Patch.load(file);
            if (!p.hasBaseValues() && !p.baseDigest().equals(digest)) {
                throw new IllegalArgumentException(file + " carries no base values and was made for base " + p.baseDigest()
                        + ", not this model (" + digest + "): its change cannot be measured");
            }
            List<String> misfits = p.hasBaseValues() ? List.of() : p.incompatibilities(base);
            if (!misfits.isEmpty()) {
                throw new IllegalArgumentException(file + " does not fit the base: " + String.join("; ", misfits));
            }
            out.add(Evidence.Delta.of(file.toString(), p, base));
        }
        return out;
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
        return new VetReport.TensorChange(name, t.count(), t.numel(), Math.sqrt(squares), maxAbs, nonFinite, Double.NaN, Double.NaN);
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
