package io.tessera.fisher;

import io.tessera.engine.Backend;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Selects the k largest scores across named tensors (the FISH mask: scores are Fisher diagonals) in O(N),
 * over the order-preserving bits ("keys") of the non-negative floats, usually in one pass over the data: a
 * small sample gives a bracket a little below the k-th largest, one selection pass (which also rejects NaN,
 * infinite and negative scores) gathers every entry at or above it, and a radix select over those alone
 * gives the exact threshold. If the bracket misses (heavy ties, an unlucky sample), a radix select over all
 * the data (two histogram passes) finds the threshold first and the selection pass follows. Ties at the
 * threshold go to the earliest tensor (map order) and lowest index, so the count is exactly k and runs are
 * deterministic, whichever path ran. Results are sorted flat indices per tensor.
 */
public final class TopK {
    private TopK() {}

    /**
     * Keys are the 31 value bits of a score (the sign bit, always 0, is the initial 1-bit prefix): the first
     * pass counts the top 16 bits (65,536 per-thread counters still fit in L2), the rest are the low 15.
     */
    private static final int HIGH_BITS = 16;
    private static final int LOW_BITS = 15;

    /**
     * Samples for the bracket: scattered reads of 2^15 entries cost about a millisecond, and the bracket
     * then admits about k (1 + 4 / sqrt(k 2^15 / total)) entries, a third more than k at 0.5%.
     */
    private static final int SAMPLES = 1 << 15;

    /** The k largest scores over all tensors. */
    public static Map<String, long[]> global(Map<String, Tensor> scores, long k) {
        return global(scores, k, Set.of());
    }

    /**
     * The k largest scores over all tensors, with every entry of the {@code alwaysKeep} tensors (e.g. a
     * classification head) selected first and counted in the budget k.
     */
    public static Map<String, long[]> global(Map<String, Tensor> scores, long k, Set<String> alwaysKeep) {
        return global(scores, k, alwaysKeep, true);
    }

    /** {@link #global(Map, long, Set)}, optionally without the sampled bracket (tests check both paths). */
    static Map<String, long[]> global(Map<String, Tensor> scores, long k, Set<String> alwaysKeep, boolean sampled) {
        long total = checkDtypes(scores);
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
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> keep = new LinkedHashMap<>(scores);
            keep.keySet().retainAll(alwaysKeep);
            histogram(contiguous(keep), 0, 1, 0, 0); // one bin: only validates what is kept regardless of value
        }
        Map<String, long[]> selected = select(rest, k - kept, sampled);
        Map<String, long[]> out = new LinkedHashMap<>();
        for (String name : scores.keySet()) {
            out.put(name, alwaysKeep.contains(name) ? allIndices(scores.get(name).numel()) : selected.get(name));
        }
        return out;
    }

    /** The top {@code fraction} of each tensor separately (rounded down per tensor). */
    public static Map<String, long[]> perTensor(Map<String, Tensor> scores, double fraction) {
        checkDtypes(scores);
        if (!(fraction >= 0 && fraction <= 1)) {
            throw new IllegalArgumentException("top-k: fraction must be in [0, 1], got " + fraction);
        }
        Map<String, long[]> out = new LinkedHashMap<>();
        scores.forEach((name, t) -> out.put(name, select(Map.of(name, t), (long) Math.floor(fraction * t.numel()), true).get(name)));
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

    /** Checks every score tensor is f32 (finiteness and sign are checked by the first pass); returns the entry count. */
    private static long checkDtypes(Map<String, Tensor> scores) {
        long total = 0;
        for (var entry : scores.entrySet()) {
            Tensor t = entry.getValue();
            if (t.dtype() != DType.F32) {
                throw new IllegalArgumentException("top-k: scores of " + entry.getKey() + " must be f32, got " + t.describe());
            }
            total += t.numel();
        }
        return total;
    }

    private static Map<String, long[]> select(Map<String, Tensor> scores, long k, boolean sampled) {
        Map<String, long[]> out = new LinkedHashMap<>();
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> dense = contiguous(scores);
            if (k == 0) {
                histogram(dense, 0, 1, 0, 0); // selects nothing, still validates
                scores.keySet().forEach(name -> out.put(name, new long[0]));
                return out;
            }
            Collected found = sampled ? collectAboveSampledBracket(dense, k) : null;
            long[] exact; // {threshold key, how many entries equal to it still belong in the top k}
            if (found != null) {
                Tensor keys = Tensor.over(found.keys().storage(), DType.F32, found.keys().numel()); // keys are the bits
                Map<String, Tensor> candidates = Map.of("the selected", keys);
                exact = threshold(candidates, pick(histogram(candidates, 0, 1, LOW_BITS, HIGH_BITS), k));
            } else {
                exact = threshold(dense, pick(histogram(dense, 0, 1, LOW_BITS, HIGH_BITS), k));
                found = collect(dense, (int) exact[0], exact[1], k);
            }
            long quota = exact[1];
            Iterator<Hits> it = found.hits().iterator();
            for (String name : scores.keySet()) {
                Hits h = it.next();
                long[] chosen = new long[h.indices().length];
                int count = 0;
                for (int j = 0; j < chosen.length; j++) {
                    if (h.keys()[j] > exact[0] || (h.keys()[j] == exact[0] && quota-- > 0)) {
                        chosen[count++] = h.indices()[j];
                    }
                }
                out.put(name, Arrays.copyOf(chosen, count));
            }
        }
        return out;
    }

    /**
     * Every entry whose key is at or above a bracket read off a sample, so one pass over the data, or null
     * when the bracket missed (fewer than k entries at or above it, or more than twice as many as expected,
     * as with heavy ties). The sample is every p-th entry of the concatenated tensors with p prime, so
     * periodic structure (a weight's columns) does not bias it; the bracket leaves a margin of 4 standard
     * deviations (plus a few samples) below the sample's estimate of the k-th largest.
     */
    private static Collected collectAboveSampledBracket(Map<String, Tensor> dense, long k) {
        long total = dense.values().stream().mapToLong(Tensor::numel).sum();
        long step = total <= SAMPLES ? 1 : BigInteger.valueOf(total / SAMPLES).nextProbablePrime().longValue();
        int[] sample = new int[Math.toIntExact((total + step - 1) / step)];
        int m = 0;
        long position = 0; // of the tensor's first entry in the concatenation
        for (Tensor t : dense.values()) {
            long first = Math.floorMod(-position, step);
            if (first < t.numel()) {
                for (float v : t.reshape(t.numel()).slice(0, first, t.numel(), step).contiguous().toFloatArray()) {
                    sample[m++] = v > 0 && v < Float.POSITIVE_INFINITY ? Float.floatToRawIntBits(v) : 0;
                }
            }
            position += t.numel();
        }
        Arrays.sort(sample, 0, m);
        double expected = (double) k * m / total; // samples at or above the k-th largest
        long rank = (long) Math.ceil(expected + 4 * Math.sqrt(expected) + 4);
        int bracket = rank >= m ? 0 : sample[(int) (m - rank)];
        long capacity = Math.min(total, 2 * Math.max(k, (long) Math.ceil((double) rank * total / m)));
        Collected found = collect(dense, bracket, Long.MAX_VALUE, capacity);
        return found != null && found.keys().numel() >= k ? found : null;
    }

    /** One tensor's entries from a selection pass: ascending indices and their keys. */
    private record Hits(long[] indices, int[] keys) {}

    /** Per tensor its hits, and all their keys in one tensor. */
    private record Collected(List<Hits> hits, Tensor keys) {}

    /**
     * Per tensor, the entries whose key is above {@code thresholdKey}, and the first {@code equalQuota} over
     * all tensors (in tensor order) whose key equals it; null if they are more than {@code capacity}.
     */
    private static Collected collect(Map<String, Tensor> dense, int thresholdKey, long equalQuota, long capacity) {
        Tensor indices = Tensor.empty(DType.I64, capacity);
        Tensor keys = Tensor.empty(DType.I32, capacity);
        List<Hits> hits = new ArrayList<>();
        long written = 0;
        long quota = equalQuota;
        for (var entry : dense.entrySet()) {
            Tensor t = entry.getValue();
            Backend.Selected s = t.backend().selectAbove(t, thresholdKey, quota, indices.slice(0, written, capacity),
                    keys.slice(0, written, capacity));
            requireValid(entry.getKey(), t, s.invalid());
            if (s.written() < s.qualifying()) {
                return null;
            }
            Hits h = new Hits(indices.slice(0, written, written + s.written()).toLongArray(),
                    keys.slice(0, written, written + s.written()).toIntArray());
            for (int key : h.keys()) {
                quota -= key == thresholdKey ? 1 : 0;
            }
            written += s.written();
            hits.add(h);
        }
        return new Collected(hits, keys.slice(0, 0, written));
    }

    /**
     * The k-th largest score over all tensors (1 <= k <= total): entries at or above it number at least k
     * (more when it is tied), as a magnitude threshold for TIES-style trimming.
     */
    public static float kthLargest(Map<String, Tensor> scores, long k) {
        long total = checkDtypes(scores);
        if (k < 1 || k > total) {
            throw new IllegalArgumentException("k-th largest: k = " + k + " is outside [1, " + total + "]");
        }
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> dense = contiguous(scores);
            return Float.intBitsToFloat((int) threshold(dense, pick(histogram(dense, 0, 1, LOW_BITS, HIGH_BITS), k))[0]);
        }
    }

    /**
     * {key of the k-th largest value, how many entries equal to it are among the k largest}, from the
     * first pass's {digit, remaining} by a second histogram pass over that digit's bucket.
     */
    private static long[] threshold(Map<String, Tensor> dense, long[] top) {
        long[] bottom = pick(histogram(dense, top[0], 1 + HIGH_BITS, 0, LOW_BITS), top[1]);
        return new long[] {top[0] << LOW_BITS | bottom[0], bottom[1]};
    }

    /** The histogram of one radix pass over all tensors; rejects any tensor holding NaN, infinite or negative scores. */
    private static long[] histogram(Map<String, Tensor> dense, long prefix, int prefixBits, int digitShift, int digitBits) {
        long[] histogram = new long[1 << digitBits];
        dense.forEach((name, t) -> requireValid(name, t, t.backend().radixHistogram(t, prefix, prefixBits, digitShift, digitBits,
                histogram)));
        return histogram;
    }

    private static void requireValid(String name, Tensor t, long invalid) {
        if (invalid > 0) {
            throw new IllegalArgumentException("top-k: scores of " + name + " must be finite and non-negative ("
                    + invalid + " of " + t.numel() + " entries are NaN, infinite or negative)");
        }
    }

    /** {the digit holding the k-th largest entry, how many entries of that digit are among the k largest}. */
    private static long[] pick(long[] histogram, long k) {
        int digit = histogram.length - 1;
        long remaining = k;
        while (histogram[digit] < remaining) {
            remaining -= histogram[digit--];
        }
        return new long[] {digit, remaining};
    }

    private static Map<String, Tensor> contiguous(Map<String, Tensor> scores) {
        Map<String, Tensor> dense = new LinkedHashMap<>();
        scores.forEach((name, t) -> dense.put(name, t.contiguous()));
        return dense;
    }
    private static long[] allIndices(long n) {
        long[] all = new long[Math.toIntExact(n)];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        return all;
    }
}
