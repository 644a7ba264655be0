package io.tessera.sparse;

/** How a masked optimizer updates one tensor; chosen per tensor, by density unless the caller says otherwise. */
public enum UpdateForm {
    /** Walks the list of the k masked entries: O(k) time, optimizer state for those k entries only. */
    INDEXED,
    /** One pass over all n entries with a u8 mask: O(n) time, full-size optimizer state. */
    DENSE;

    /**
     * Tensors whose mask is denser than this use {@link #DENSE}. Measured with one AdamW step on 100M
     * floats, entries spread uniformly (2-core Zen 4, AVX-512): the index form takes 3.9 ms at 0.5%,
     * 46 ms at 40%, 56 ms at 50%, 68 ms at 60% and 122 ms at 100%; the dense masked pass takes 58-72 ms
     * at any density. The index form also holds less state up to 75% (12 bytes per masked entry against
     * 9 per element).
     */
    public static final double DENSE_ABOVE_DENSITY = 0.5;

    /** {@link #DENSE} above {@link #DENSE_ABOVE_DENSITY}, else {@link #INDEXED}. */
    public static UpdateForm byDensity(TensorMask mask) {
        return mask.density() > DENSE_ABOVE_DENSITY ? DENSE : INDEXED;
    }
}
