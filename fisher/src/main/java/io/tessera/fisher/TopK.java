package io.tessera.fisher;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Selects the k largest scores across named tensors (the FISH mask: scores are Fisher diagonals) in O(N):
 * two radix passes over the order-preserving bits of the (non-negative) floats find the exact k-th
 * largest value without sorting, then one pass per tensor collects the winners. Ties at the threshold go
 * to the earliest tensor (map order) and lowest index, so the count is exactly k and runs are
 * deterministic. Results are sorted flat indices per tensor.
 */
public final class TopK {
    private TopK() {}

    /**
     * {shift, width} of the digit of each pass over the 31 value bits of a key (the sign bit, always 0,
     * is the initial 1-bit prefix): 16 + 15 bits, so two passes over the data find the exact threshold
     * (65,536 per-thread counters still fit in L2).
     */
    private static final int[][] PASSES = {{15, 16}, {0, 15}};

    /** The k largest scores over all tensors. */
    public static Map<String, long[]> global(Map<String, Tensor> scores, long k) {
        return global(scores, k, Set.of());
    }

    /**
     * The k largest scores over all tensors, with every entry of the {@code alwaysKeep} tensors (e.g. a
     * classification head) selected first and counted in the budget k.
     */
    public static Map<String, long[]> global(Map<String, Tensor> scores, long k, Set<String> alwaysKeep) {
        long total = validate(scores);
        for (String name : alwaysKeep) {
            if (!scores.containsKey(name)) {
                throw new IllegalArgumentException("top-k: tensor " + name + " to keep is not among the scores " + scores.keySet());
            }
        }
        if (k < 0 || k > total) {
            throw new IllegalArgumentException("top-k: k = " + k + " is outside [0, " + total + "]");
        }
        long kept = alwaysKeep.stream().mapToLong(name -> scores.get(name).numel()).sum();
        if (kept > k) {
            throw new IllegalArgumentException("top-k: the tensors to keep " + alwaysKeep + " have " + kept
                    + " entries, more than the budget k = " + k);
        }
        Map<String, Tensor> rest = new LinkedHashMap<>(scores);
        rest.keySet().removeAll(alwaysKeep);
        Map<String, long[]> selected = select(rest, k - kept);
        Map<String, long[]> out = new LinkedHashMap<>();
        for (String name : scores.keySet()) {
            out.put(name, alwaysKeep.contains(name) ? allIndices(scores.get(name).numel()) : selected.get(name));
        }
        return out;
    }

    /** The top {@code fraction} of each tensor separately (rounded down per tensor). */
    public static Map<String, long[]> perTensor(Map<String, Tensor> scores, double fraction) {
        validate(scores);
        if (!(fraction >= 0 && fraction <= 1)) {
            throw new IllegalArgumentException("top-k: fraction must be in [0, 1], got " + fraction);
        }
        Map<String, long[]> out = new LinkedHashMap<>();
        scores.forEach((name, t) -> out.put(name, select(Map.of(name, t), (long) Math.floor(fraction * t.numel())).get(name)));
        return out;
    }

    /** A uniformly random subset of exactly k entries, reproducible from {@code seed} (the baseline mask). */
    public static Map<String, long[]> random(Map<String, long[]> shapes, long k, long seed) {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> keys = new LinkedHashMap<>();
            long offset = 0;
            for (var entry : shapes.entrySet()) {
                Tensor draws = Tensor.rand(seed, offset, entry.getValue());
                keys.put(entry.getKey(), draws);
                offset += (draws.numel() + 3) / 4; // Philox blocks of 4 values: disjoint streams per tensor
            }
            return global(keys, k);
        }
    }

    /** Checks every score tensor is f32, finite and non-negative; returns the total entry count. */
    private static long validate(Map<String, Tensor> scores) {
        long total = 0;
        try (TensorScope scope = TensorScope.open()) {
            for (var entry : scores.entrySet()) {
                Tensor t = entry.getValue();
                if (t.dtype() != DType.F32) {
                    throw new IllegalArgumentException("top-k: scores of " + entry.getKey() + " must be f32, got " + t.describe());
                }
                if (t.numel() > 0) {
                    double min = t.min(false).item();
                    double max = t.max(false).item();
                    if (!(min >= 0) || !Double.isFinite(max)) {
                        throw new IllegalArgumentException("top-k: scores of " + entry.getKey()
                                + " must be finite and non-negative (min " + min + ", max " + max + ")");
                    }
                }
                total += t.numel();
            }
        }
        return total;
    }

    private static Map<String, long[]> select(Map<String, Tensor> scores, long k) {
        Map<String, long[]> out = new LinkedHashMap<>();
        if (k == 0) {
            scores.keySet().forEach(name -> out.put(name, new long[0]));
            return out;
        }
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> dense = new LinkedHashMap<>();
            scores.forEach((name, t) -> dense.put(name, t.contiguous()));
            long[] threshold = kthLargestKey(dense.values(), k);
            long quota = threshold[1]; // how many entries equal to the threshold still belong in the top k
            long left = k; // exactly k are selected in all, so no tensor yields more than what is left
            for (var entry : dense.entrySet()) {
                Tensor t = entry.getValue();
                long[] found = t.backend().selectAbove(t, (int) threshold[0], quota, left);
                quota -= found[found.length - 1];
                left -= found.length - 1;
                out.put(entry.getKey(), java.util.Arrays.copyOf(found, found.length - 1));
            }
        }
        return out;
    }

    /**
     * The k-th largest score over all tensors (1 <= k <= total): entries at or above it number at least k
     * (more when it is tied), as a magnitude threshold for TIES-style trimming.
     */
    public static float kthLargest(Map<String, Tensor> scores, long k) {
        long total = validate(scores);
        if (k < 1 || k > total) {
            throw new IllegalArgumentException("k-th largest: k = " + k + " is outside [1, " + total + "]");
        }
        try (TensorScope scope = TensorScope.open()) {
            return Float.intBitsToFloat((int) kthLargestKey(scores.values().stream().map(Tensor::contiguous).toList(), k)[0]);
        }
    }

    /** {key of the k-th largest value, how many entries equal to it are among the k largest}. */
    private static long[] kthLargestKey(java.util.Collection<Tensor> tensors, long k) {
        long prefix = 0;
        int prefixBits = 1;
        long remaining = k;
        for (int[] pass : PASSES) {
            long[] histogram = new long[1 << pass[1]];
            for (Tensor t : tensors) {
                t.backend().radixHistogram(t, prefix, prefixBits, pass[0], pass[1], histogram);
            }
            int digit = histogram.length - 1;
            while (histogram[digit] < remaining) {
                remaining -= histogram[digit--];
            }
            prefix = (prefix << pass[1]) | digit;
            prefixBits += pass[1];
        }
        return new long[] {prefix, remaining};
    }

    private static long[] allIndices(long n) {
        long[] all = new long[Math.toIntExact(n)];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        return all;
    }
}
