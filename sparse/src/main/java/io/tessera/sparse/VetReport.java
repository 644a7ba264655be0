package io.tessera.sparse;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What {@link Vetting#report} found out about a patch file.
 *
 * @param bytesOnDisk the file's size
 * @param expectedBase the base digest the patch records
 * @param actualBase the digest of the model it was vetted against
 * @param applyProblems why the patch does not fit the model (missing tensors, dtype or shape), empty when it fits
 * @param tensors the change per touched tensor, in name order (only for tensors that fit)
 * @param metricBefore the caller's metric on the base model
 * @param metricAfter the metric on the patched model; NaN when the patch does not apply cleanly (both NaN without a metric)
 * @param flags the integrity problems (and tensors whose change is out of proportion to the others')
 * @param checks the evidence items, integrity first, each with its verdict and the number behind it
 */
public record VetReport(Path file, long bytesOnDisk, String description, String expectedBase, String actualBase,
                        List<String> applyProblems, List<TensorChange> tensors, double metricBefore, double metricAfter,
                        List<Flag> flags, List<Check> checks) {

    /**
     * The change to one tensor: new value minus base value at each patched entry.
     *
     * @param l2 the L2 norm of the finite changes; {@code maxAbs} their largest magnitude
     * @param nonFinite patched entries whose new value is NaN or infinite
     * @param zL2 the robust z-score of {@code l2} among the accepted patches' changes to this tensor; {@code zMax}
     *        the same of {@code maxAbs} (NaN without enough accepted patches)
     */
    public record TensorChange(String name, long entries, long numel, double l2, double maxAbs, long nonFinite, double zL2,
                               double zMax) {
        /** L2 / sqrt(finite entries): a size-independent magnitude of the change. */
        public double rms() {
            long finite = entries - nonFinite;
            return finite == 0 ? 0 : l2 / Math.sqrt(finite);
        }
    }

    public enum FlagKind { WRONG_BASE, DOES_NOT_APPLY, NON_FINITE, NORM_OUTLIER, FROZEN }

    /** A reason to look closer; {@code tensor} is null for whole-patch flags. */
    public record Flag(FlagKind kind, String tensor, String message) {}

    /** How an evidence item came out; SKIPPED when its inputs were not given (the detail says which). */
    public enum Verdict { PASS, WARN, FAIL, SKIPPED }

    /** One evidence item: its verdict, the number behind it (NaN when skipped) and what the number means. */
    public record Check(String item, Verdict verdict, double value, String detail) {}

    public VetReport {
        applyProblems = List.copyOf(applyProblems);
        tensors = List.copyOf(tensors);
        flags = List.copyOf(flags);
        checks = List.copyOf(checks);
    }

    public boolean baseMatches() {
        return expectedBase.equals(actualBase);
    }

    /** The base digest matches and every patched tensor exists with the patch's dtype and shape. */
    public boolean appliesCleanly() {
        return baseMatches() && applyProblems.isEmpty();
    }

    public boolean allFinite() {
        return tensors.stream().allMatch(t -> t.nonFinite() == 0);
    }

    /** Patched entries over all tensors. */
    public long entries() {
        return tensors.stream().mapToLong(TensorChange::entries).sum();
    }

    /** No flags at all. */
    public boolean clean() {
        return flags.isEmpty();
    }

    /** The worst verdict of any check: what a maintainer should look at first (never an automatic accept). */
    public Verdict worst() {
        return checks.stream().map(Check::verdict).filter(v -> v != Verdict.SKIPPED).max(Enum::compareTo).orElse(Verdict.PASS);
    }

    /** A plain-text summary: header lines, one row per tensor, the flags, then one line per check. */
    public String format() {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "patch %s (%s): %d bytes on disk, %d entries in %d tensors%n", file, description,
                bytesOnDisk, entries(), tensors.size()));
        s.append("base ").append(baseMatches() ? "matches " + actualBase : "MISMATCH: patch wants " + expectedBase
                + ", model is " + actualBase).append(System.lineSeparator());
        applyProblems.forEach(p -> s.append("does not apply: ").append(p).append(System.lineSeparator()));
        if (!Double.isNaN(metricBefore)) {
            s.append(String.format(Locale.ROOT, "metric before %.6g, after %.6g%n", metricBefore, metricAfter));
        }
        s.append(String.format(Locale.ROOT, "%-40s %12s %12s %12s %8s %12s %8s %10s%n", "tensor", "entries", "fraction", "L2", "z(L2)",
                "max |d|", "z(max)", "non-finite"));
        for (TensorChange t : tensors) {
            s.append(String.format(Locale.ROOT, "%-40s %12d %11.4f%% %12.4g %8.3g %12.4g %8.3g %10d%n", t.name(), t.entries(),
                    100.0 * t.entries() / Math.max(1, t.numel()), t.l2(), t.zL2(), t.maxAbs(), t.zMax(), t.nonFinite()));
        }
        flags.forEach(f -> s.append("FLAG ").append(f.kind()).append(": ").append(f.message()).append(System.lineSeparator()));
        for (Check c : checks) {
            s.append(String.format(Locale.ROOT, "%-8s %-22s %10.4g  %s%n", c.verdict(), c.item(), c.value(), c.detail()));
        }
        s.append("overall: ").append(worst()).append(" (a report, not a decision: the maintainer accepts or rejects)")
                .append(System.lineSeparator());
        return s.toString();
    }
}
