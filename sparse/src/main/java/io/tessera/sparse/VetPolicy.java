package io.tessera.sparse;

import java.util.Set;

/**
 * What {@link Vetting} flags beyond non-finite values and a wrong base, and where each evidence item
 * turns from pass to warn to fail.
 *
 * @param outlierFactor flag a tensor whose RMS change per patched entry exceeds this many times the
 *        median of the other touched tensors' (RMS, not L2: L2 grows with the number of entries)
 * @param frozen names of tensors no patch may touch
 * @param normZ the largest robust z-score of a tensor's L2 or max change against the accepted patches
 * @param minHistory accepted patches needed before z-scores mean anything
 * @param duplicateCosine the largest cosine to another pending patch (a resubmission, or sybils)
 * @param referenceCosine the cosine to the root set's descent direction on the patch's entries (low is bad)
 * @param fisherFootprint the share of the patch's squared norm on entries of near-zero root Fisher
 * @param nearZeroFisher an entry's root Fisher is near zero below this fraction of the mean root Fisher
 * @param predictedLoss the predicted change of the root loss, in nats
 * @param classDrop the largest drop of one class's held-out accuracy
 * @param triggerPull the largest share of trigger-stamped probes the patch pulls to one class
 * @param int8Survival the share of changed entries whose int8 code changes (low is bad: int8 erases the patch)
 */
public record VetPolicy(double outlierFactor, Set<String> frozen, Limits normZ, int minHistory, Limits duplicateCosine,
                        Limits referenceCosine, Limits fisherFootprint, double nearZeroFisher, Limits predictedLoss,
                        Limits classDrop, Limits triggerPull, Limits int8Survival) {

    /**
     * Outlier factor 10, nothing frozen; z-scores warn at 3.5 (Iglewicz and Hoaglin's outlier rule) once 3
     * patches are accepted; a cosine of 0.9 to another pending patch warns, 0.99 fails; a patch working
     * against the root set's gradient warns, strongly against it (-0.5) fails; 0.5% of the squared norm
     * where the root Fisher is below 1e-4 of its mean warns (a clean patch puts almost nothing there), 5%
     * fails; a predicted root-loss rise of 0.1 nats warns, 1 fails; a class losing 10 points of accuracy
     * warns, 50 fail (small models swing on confusable classes such as shirt and T-shirt); a trigger pulling
     * 10% of the probes to one class warns, 30% fails; fewer than half the changes surviving int8 warns,
     * none fails.
     */
    public static final VetPolicy DEFAULT = new VetPolicy(10, Set.of(), Limits.above(3.5, 10), 3, Limits.above(0.9, 0.99),
            Limits.below(0, -0.5), Limits.above(0.005, 0.05), 1e-4, Limits.above(0.1, 1), Limits.above(0.1, 0.5),
            Limits.above(0.1, 0.3), Limits.below(0.5, 0));

    public VetPolicy {
        if (!(outlierFactor > 1)) {
            throw new IllegalArgumentException("the outlier factor must exceed 1, got " + outlierFactor);
        }
        if (minHistory < 2) {
            throw new IllegalArgumentException("z-scores need at least 2 accepted patches, got " + minHistory);
        }
        if (!(nearZeroFisher >= 0)) {
            throw new IllegalArgumentException("the near-zero Fisher fraction must be >= 0, got " + nearZeroFisher);
        }
        frozen = Set.copyOf(frozen);
    }

    public VetPolicy withFrozen(Set<String> names) {
        return new VetPolicy(outlierFactor, names, normZ, minHistory, duplicateCosine, referenceCosine, fisherFootprint,
                nearZeroFisher, predictedLoss, classDrop, triggerPull, int8Survival);
    }

    /**
     * Where a value turns to warn and to fail: at or past {@code warn} / {@code fail} in the bad direction
     * (upwards when {@code higherIsWorse}). A NaN value passes nothing: it fails.
     */
    public record Limits(double warn, double fail, boolean higherIsWorse) {
        public Limits {
            if (higherIsWorse ? !(warn <= fail) : !(warn >= fail)) {
                throw new IllegalArgumentException("the fail limit " + fail + " must lie beyond the warn limit " + warn);
            }
        }

        public static Limits above(double warn, double fail) {
            return new Limits(warn, fail, true);
        }

        public static Limits below(double warn, double fail) {
            return new Limits(warn, fail, false);
        }

        public VetReport.Verdict verdict(double value) {
            double bad = higherIsWorse ? value : -value;
            if (Double.isNaN(value) || bad >= (higherIsWorse ? fail : -fail)) {
                return VetReport.Verdict.FAIL;
            }
            return bad >= (higherIsWorse ? warn : -warn) ? VetReport.Verdict.WARN : VetReport.Verdict.PASS;
        }
    }
}
