package io.tessera.fisher;

import io.tessera.engine.Tensor;
import io.tessera.sparse.SparseMask;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * FISH masks (Sung et al. 2021): train only the fraction of parameters with the largest diagonal Fisher,
 * chosen by one global top-k over all tensors, optionally keeping whole tensors (a classification head)
 * trainable within the budget; and the seeded random mask of the same size as the baseline.
 */
public final class FishMask {
    private FishMask() {}

    /** The FISH mask keeping {@code fraction} of all parameters (rounded down) by largest Fisher. */
    public static SparseMask of(Map<String, Tensor> fisher, double fraction, Set<String> alwaysKeep) {
        Map<String, long[]> shapes = shapes(fisher);
        return SparseMask.fromIndices(shapes, TopK.global(fisher, budget(shapes, fraction), alwaysKeep));
    }

    /** A uniformly random mask of the same budget, reproducible from {@code seed}. */
    public static SparseMask random(Map<String, long[]> shapes, double fraction, long seed) {
        return SparseMask.fromIndices(shapes, TopK.random(shapes, budget(shapes, fraction), seed));
    }

    private static long budget(Map<String, long[]> shapes, double fraction) {
        if (!(fraction >= 0 && fraction <= 1)) {
            throw new IllegalArgumentException("mask fraction must be in [0, 1], got " + fraction);
        }
        long total = 0;
        for (long[] shape : shapes.values()) {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            total += n;
        }
        return (long) Math.floor(fraction * total);
    }

    private static Map<String, long[]> shapes(Map<String, Tensor> tensors) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        tensors.forEach((name, t) -> shapes.put(name, t.shape()));
        return shapes;
    }
}
