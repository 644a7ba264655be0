package io.tessera.engine;

import java.util.Arrays;

/**
 * The entry lists of {@link Tensor#restrictGrad}: their checks, reducing a full gradient to them, and telling
 * a compact gradient from a full one.
 */
public final class GradIndices {
    private GradIndices() {}

    /**
     * Whether {@code gradient} holds one value per listed index rather than one per element of the tensor the
     * list indexes (as {@link Backend#adamwIndexed} reads it). When the list names every element both readings
     * agree: it is then 0, 1, 2, ...
     */
    public static boolean isCompact(Tensor indices, Tensor gradient) {
        return gradient.numel() == indices.numel();
    }

    /** indices must be I32/I64, 1-D, contiguous, on the leaf's device, sorted, unique and within its elements. */
    static void check(Tensor leaf, Tensor indices) {
        ArgumentChecks checks = new ArgumentChecks("restrictGrad of " + leaf.describe(), leaf.device());
        checks.tensor("indices", indices);
        checks.rank("indices", indices, 1).indices("indices", indices, leaf.numel(), true);
    }

    /**
     * The gradient {@code g} of {@code leaf} as the leaf keeps it: unchanged without a restriction or when g is
     * already compact, else its listed entries.
     */
    static Tensor toKept(Tensor leaf, Tensor g) {
        Tensor indices = leaf.gradIndices();
        if (indices == null || Arrays.equals(g.shape(), leaf.gradShape()) && !Arrays.equals(g.shape(), leaf.shape())) {
            return g;
        }
        if (!Arrays.equals(g.shape(), leaf.shape())) {
            throw new IllegalStateException("gradient " + g.describe() + " fits neither " + leaf.describe() + " nor its "
                    + indices.numel() + " restricted entries");
        }
        Tensor column = g.to(DType.F32).contiguous().reshape(leaf.numel(), 1);
        Tensor kept = Tensor.empty(leaf.device(), DType.F32, indices.numel(), 1);
        leaf.backend().embedding(column, indices, kept);
        return kept.reshape(indices.numel()).takeOwnership();
    }
}
