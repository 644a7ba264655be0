package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class TopKTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** Scores with many exact ties (values on a coarse grid) and some zeros, over tensors of awkward sizes. */
    private static Map<String, float[]> scores(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, float[]> out = new LinkedHashMap<>();
        for (var entry : Map.of("a", 1, "b", 1031, "c", 40_009, "d", 0).entrySet().stream()
                .sorted(Map.Entry.comparingByKey()).toList()) {
            float[] v = new float[entry.getValue()];
            for (int i = 0; i < v.length; i++) {
                v[i] = rng.nextInt(10) == 0 ? 0f : (float) (Math.floor(rng.nextDouble() * 500) * 1e-3 * Math.pow(10, rng.nextInt(4)));
            }
            out.put(entry.getKey(), v);
        }
        return out;
    }

    /** The reference: sort every (value desc, tensor order, index asc) and take the first k. */
    private static Map<String, long[]> sortReference(Map<String, float[]> scores, long k) {
        record Entry(float value, int tensor, int index) {}
        List<String> names = new ArrayList<>(scores.keySet());
        List<Entry> all = new ArrayList<>();
        for (int t = 0; t < names.size(); t++) {
            float[] v = scores.get(names.get(t));
            for (int i = 0; i < v.length; i++) {
                all.add(new Entry(v[i], t, i));
            }
        }
        all.sort(Comparator.comparingDouble((Entry e) -> -e.value()).thenComparingInt(Entry::tensor).thenComparingInt(Entry::index));
        Map<String, List<Long>> chosen = new LinkedHashMap<>();
        names.forEach(n -> chosen.put(n, new ArrayList<>()));
        for (int i = 0; i < k; i++) {
            chosen.get(names.get(all.get(i).tensor())).add((long) all.get(i).index());
        }
        Map<String, long[]> out = new LinkedHashMap<>();
        chosen.forEach((n, list) -> out.put(n, list.stream().mapToLong(Long::longValue).sorted().toArray()));
        return out;
    }

    private static Map<String, Tensor> tensors(Map<String, float[]> scores) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        scores.forEach((n, v) -> out.put(n, Tensor.of(v, v.length)));
        return out;
    }

    @Test
    void globalTopKIsExactWithDeterministicTies() {
        Map<String, float[]> s = scores(1);
        long total = s.values().stream().mapToLong(v -> v.length).sum();
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> t = tensors(s);
            for (long k : new long[] {0, 1, 7, 205, 4104, total / 2, total - 1, total}) {
                assertMatchesReference(s, t, k);
            }
        }
    }

    /** Both paths: the sampled bracket (falling back when it misses), and the histogram passes alone. */
    private static void assertMatchesReference(Map<String, float[]> s, Map<String, Tensor> t, long k) {
        Map<String, long[]> expected = sortReference(s, k);
        for (boolean sampled : new boolean[] {true, false}) {
            Map<String, long[]> actual = TopK.global(t, k, Set.of(), sampled);
            assertEquals(expected.keySet(), actual.keySet());
            assertKeptDominateDropped(s, actual, k);
            expected.forEach((n, idx) -> assertArrayEquals(idx, actual.get(n), "k=" + k + " sampled=" + sampled + " tensor " + n));
        }
    }

    @Test
    void heavyTiesAcrossTensorsBigEnoughForThreads() {
        // all-equal, all-zero (both signs) and two-valued tensors of sizes around the kernels' parallel cut-over
        Map<String, float[]> s = new LinkedHashMap<>();
        s.put("zeros", new float[70_001]);
        s.put("one", new float[] {0.25f});
        s.put("empty", new float[0]);
        float[] equal = new float[100_003];
        java.util.Arrays.fill(equal, 0.25f);
        s.put("equal", equal);
        float[] mixed = new float[40_009];
        SplittableRandom rng = new SplittableRandom(5);
        for (int i = 0; i < mixed.length; i++) {
            mixed[i] = rng.nextBoolean() ? -0f : 0.25f + rng.nextInt(2) * Math.ulp(0.25f);
        }
        s.put("mixed", mixed);
        long total = s.values().stream().mapToLong(v -> v.length).sum();
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> t = tensors(s);
            for (long k : new long[] {1, 2, 13_337, 100_004, 130_000, total - 3, total}) {
                assertMatchesReference(s, t, k);
            }
        }
    }

    /** Exactly k kept, and every kept score is >= every dropped score. */
    private static void assertKeptDominateDropped(Map<String, float[]> scores, Map<String, long[]> kept, long k) {
        float minKept = Float.POSITIVE_INFINITY;
        float maxDropped = Float.NEGATIVE_INFINITY;
        long count = 0;
        for (var entry : scores.entrySet()) {
            java.util.Set<Long> chosen = new java.util.HashSet<>();
            for (long i : kept.get(entry.getKey())) {
                chosen.add(i);
            }
            count += chosen.size();
            float[] v = entry.getValue();
            for (int i = 0; i < v.length; i++) {
                if (chosen.contains((long) i)) {
                    minKept = Math.min(minKept, v[i]);
                } else {
                    maxDropped = Math.max(maxDropped, v[i]);
                }
            }
        }
        assertEquals(k, count, "exactly k entries");
        assertTrue(k == 0 || minKept >= maxDropped, "kept " + minKept + " < dropped " + maxDropped);
    }

    @Test
    void aSampleThatOverestimatesFallsBackToTheExactPath() {
        // 40 * 2^15 entries: the sample is every 41st (the prime after 40), and exactly those are large, so
        // the bracket leaves fewer than k entries above it
        float[] v = new float[40 << 15];
        java.util.Arrays.fill(v, 0.5f);
        long big = 0;
        for (int i = 0; i < v.length; i += 41) {
            v[i] = 1f;
            big++;
        }
        int k = 40_000;
        long[] expected = new long[k];
        int count = 0;
        long smallOnes = k - big; // every large one, and the earliest of the rest
        for (int i = 0; i < v.length; i++) {
            if (v[i] == 1f || smallOnes-- > 0) {
                expected[count++] = i;
            }
        }
        try (TensorScope scope = TensorScope.open()) {
            assertArrayEquals(expected, TopK.global(Map.of("w", Tensor.of(v, v.length)), k).get("w"));
        }
    }

    @Test
    void keptTensorsCountInTheBudget() {
        Map<String, float[]> s = scores(2);
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> t = tensors(s);
            Map<String, long[]> mask = TopK.global(t, 1100, Set.of("b"));
            assertEquals(1031, mask.get("b").length, "the kept tensor is whole");
            assertEquals(1100, mask.values().stream().mapToLong(v -> v.length).sum(), "exactly k in all");
            Map<String, float[]> rest = new LinkedHashMap<>(s);
            rest.put("b", new float[0]);
            Map<String, long[]> restExpected = sortReference(rest, 69);
            assertArrayEquals(restExpected.get("c"), mask.get("c"));
            assertThrows(IllegalArgumentException.class, () -> TopK.global(t, 1000, Set.of("b")), "budget below the kept size");
            assertThrows(IllegalArgumentException.class, () -> TopK.global(t, 10, Set.of("nope")));
        }
    }

    @Test
    void perTensorAndRandomBaselines() {
        Map<String, float[]> s = scores(3);
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> t = tensors(s);
            Map<String, long[]> per = TopK.perTensor(t, 0.1);
            s.forEach((n, v) -> assertArrayEquals(sortReference(Map.of(n, v), (long) Math.floor(0.1 * v.length)).get(n), per.get(n), n));
            Map<String, long[]> shapes = new LinkedHashMap<>();
            s.forEach((n, v) -> shapes.put(n, new long[] {v.length}));
            Map<String, long[]> r1 = TopK.random(shapes, 500, 7);
            Map<String, long[]> r2 = TopK.random(shapes, 500, 7);
            Map<String, long[]> r3 = TopK.random(shapes, 500, 8);
            assertEquals(500, r1.values().stream().mapToLong(v -> v.length).sum());
            r1.forEach((n, idx) -> assertArrayEquals(idx, r2.get(n), "same seed, same mask"));
            assertFalse(java.util.Arrays.equals(r1.get("c"), r3.get("c")), "another seed, another mask");
            // uniform: the 40,009-entry tensor gets about 40009/41041 of the picks
            assertTrue(Math.abs(r1.get("c").length - 500 * 40_009.0 / 41_041) < 60, "c got " + r1.get("c").length);
        }
    }

    @Test
    void rejectsScoresThatAreNotFisherValues() {
        try (TensorScope scope = TensorScope.open()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> TopK.global(Map.of("w", Tensor.of(new float[] {1, -2}, 2)), 1));
            assertTrue(e.getMessage().contains("scores of w must be finite and non-negative"), e.getMessage());
            Map<String, Tensor> second = new LinkedHashMap<>();
            second.put("fine", Tensor.of(new float[] {1, 2, 3}, 3));
            second.put("head.bias", Tensor.of(new float[] {1, Float.NaN, Float.POSITIVE_INFINITY}, 3));
            for (long k : new long[] {0, 2}) { // k = 0 selects nothing yet still validates
                e = assertThrows(IllegalArgumentException.class, () -> TopK.global(second, k));
                assertEquals("top-k: scores of head.bias must be finite and non-negative (2 of 3 entries are NaN, infinite or negative)",
                        e.getMessage());
            }
            e = assertThrows(IllegalArgumentException.class, () -> TopK.global(second, 3, Set.of("head.bias")));
            assertTrue(e.getMessage().contains("scores of head.bias"), "a kept tensor is validated too: " + e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> TopK.perTensor(second, 0.5));
            assertTrue(e.getMessage().contains("scores of head.bias"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> TopK.kthLargest(second, 1));
            assertTrue(e.getMessage().contains("scores of head.bias"), e.getMessage());
            assertEquals(3f, TopK.kthLargest(Map.of("w", Tensor.of(new float[] {3, -0f, 1, 3}, 4)), 2));
            assertThrows(IllegalArgumentException.class, () -> TopK.global(Map.of("w", Tensor.of(new float[] {1, 2}, 2)), 3));
        }
    }
}
