package io.tessera.sparse;

import java.util.Set;

/**
 * What {@link Vetting} flags beyond non-finite values and a wrong base.
 *
 * @param outlierFactor flag a tensor whose RMS change per patched entry exceeds this many times the
 *        median of the other touched tensors' (RMS, not L2: L2 grows with the number of entries)
 * @param frozen names of tensors no patch may touch
 */
public record VetPolicy(double outlierFactor, Set<String> frozen) {
    /** Factor 10, nothing frozen. */
    public static final VetPolicy DEFAULT = new VetPolicy(10, Set.of());

    public VetPolicy {
        if (!(outlierFactor > 1)) {
            throw new IllegalArgumentException("the outlier factor must exceed 1, got " + outlierFactor);
        }
        frozen = Set.copyOf(frozen);
    }

    public VetPolicy withFrozen(Set<String> names) {
        return new VetPolicy(outlierFactor, names);
    }
}
