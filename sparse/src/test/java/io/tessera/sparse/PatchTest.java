package io.tessera.sparse;

import static io.tessera.sparse.TestModels.assertBitEqual;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.io.SafetensorsHeader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Patch diff, apply, revert and compose, checked bit for bit against models built independently. */
class PatchTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void applyOfDiffIsTheTunedModelAndRevertIsTheBase() {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(1);
            Map<String, Tensor> tuned = TestModels.perturbed(base, 0.05, 2);
            Patch patch = Patch.diff(base, tuned, "five percent");
            long changed = 0;
            for (String name : base.keySet()) {
                byte[] a = base.get(name).toByteArray();
                byte[] b = tuned.get(name).toByteArray();
                int size = base.get(name).dtype().byteSize();
                for (int i = 0; i < a.length; i += size) {
                    changed += Arrays.equals(a, i, i + size, b, i, i + size) ? 0 : 1;
                }
            }
            assertEquals(changed, patch.count(), "one entry per changed element");
            assertEquals(ModelDigest.of(base), patch.baseDigest());
            Map<String, Tensor> applied = patch.apply(base);
            assertBitEqual(tuned, applied, "apply(base, diff(base, tuned))");
            assertBitEqual(base, patch.revert(applied), "revert(apply(base, p), p)");
            patch.revertInPlace(applied);
            assertBitEqual(base, applied, "revertInPlace");
        }
    }

    @Test
    void aChainOfPatchesEachMadeOnTheLastResultBecomesOnePatchAgainstTheBase() {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(1);
            Map<String, Tensor> first = TestModels.perturbed(base, 0.05, 2);
            Map<String, Tensor> second = TestModels.perturbed(first, 0.05, 3); // built on the first contribution
            Patch p1 = Patch.diff(base, first, "first");
            Patch p2 = Patch.diff(first, second, "second");
            Patch chained = Patch.chain(base, List.of(p1, p2), "first + second");
            assertEquals(ModelDigest.of(base), chained.baseDigest());
            assertBitEqual(second, chained.apply(base), "apply(base, chain(p1, p2))");
            assertBitEqual(base, chained.revert(second), "revert of the chain");
            // out of order, the second patch does not apply to the base: named in the error
            String message = assertThrows(IllegalArgumentException.class, () -> Patch.chain(base, List.of(p2, p1), "wrong")).getMessage();
            assertTrue(message.contains("patch 0 ('second')"), message);
        }
    }

    @Test
    void bitsDecideWhatChangedNotNumericEquality() {
        try (TensorScope _ = TensorScope.open()) {
            float quietNaN = Float.intBitsToFloat(0x7fc00000);
            float otherNaN = Float.intBitsToFloat(0x7fc00001);
            Map<String, Tensor> base = Map.of("w", Tensor.of(new float[] {0.0f, quietNaN, 1.5f}, 3));
            Map<String, Tensor> tuned = Map.of("w", Tensor.of(new float[] {-0.0f, otherNaN, 1.5f}, 3));
            Patch patch = Patch.diff(base, tuned, "signed zero and NaN payload");
            assertArrayEquals(new long[] {0, 1}, patch.tensors().get("w").indices());
            assertBitEqual(tuned, patch.apply(base), "apply");
        }
    }

    @Test
    void diffWithinAMaskKeepsOnlyMaskedChanges() {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(3);
            Map<String, Tensor> tuned = TestModels.perturbed(base, 0.3, 4);
            long[] masked = {0, 5, 6, 100, 1072};
            SparseMask mask = SparseMask.fromIndices(Map.of("layer.0.weight", new long[] {37, 29}), Map.of("layer.0.weight", masked));
            Patch patch = Patch.diff(base, tuned, mask, "masked");
            float[] before = base.get("layer.0.weight").toFloatArray();
            float[] after = tuned.get("layer.0.weight").toFloatArray();
            List<Long> expected = new ArrayList<>();
            for (long i : masked) {
                if (Float.floatToRawIntBits(before[(int) i]) != Float.floatToRawIntBits(after[(int) i])) {
                    expected.add(i);
                }
            }
            assertEquals(List.of("layer.0.weight"), List.copyOf(patch.tensors().keySet()), "unmasked tensors are dropped");
            assertArrayEquals(expected.stream().mapToLong(Long::longValue).toArray(), patch.tensors().get("layer.0.weight").indices());
            for (int j = 0; j < expected.size(); j++) {
                assertEquals(after[expected.get(j).intValue()], patch.tensors().get("layer.0.weight").value(j));
                assertEquals(before[expected.get(j).intValue()], patch.tensors().get("layer.0.weight").baseValue(j));
            }
        }
    }

    @Test
    void refusesAnotherBaseNamingBothDigests() {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(5);
            Patch patch = Patch.diff(base, TestModels.perturbed(base, 0.1, 6), "p");
            Map<String, Tensor> other = TestModels.perturbed(base, 0.01, 7);
            String message = assertThrows(IllegalArgumentException.class, () -> patch.apply(other)).getMessage();
            assertTrue(message.contains(patch.baseDigest()) && message.contains(ModelDigest.of(other)), message);
            assertThrows(IllegalArgumentException.class, () -> patch.applyInPlace(other));
            assertThrows(IllegalArgumentException.class, () -> patch.withBaseValues(other));
        }
    }

    @Test
    void refusesToWriteIntoAReadOnlyMappedModel() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(8);
            Patch patch = Patch.diff(base, TestModels.perturbed(base, 0.1, 9), "p");
            Path file = dir.resolve("base.safetensors");
            Safetensors.write(file, base);
            try (SafetensorsFile mapped = Safetensors.read(file)) {
                String message = assertThrows(IllegalArgumentException.class, () -> patch.applyInPlace(mapped.tensors())).getMessage();
                assertTrue(message.contains("read-only"), message);
                assertBitEqual(patch.apply(base), patch.apply(mapped.tensors()), "apply copies, so a mapped base is fine");
            }
        }
    }

    @Test
    void revertNeedsBaseValuesAndAModelHoldingThePatch() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(10);
            Map<String, Tensor> tuned = TestModels.perturbed(base, 0.1, 11);
            Patch patch = Patch.diff(base, tuned, "p");
            Path file = dir.resolve("p.patch");
            patch.save(file, Compression.NONE);
            Patch loaded = Patch.load(file);
            assertFalse(loaded.hasBaseValues(), "files hold new values only");
            assertThrows(IllegalStateException.class, () -> loaded.revert(tuned));
            Patch revertible = loaded.withBaseValues(base);
            assertEquals(patch, revertible, "base values learnt from the base model");
            assertBitEqual(base, revertible.revert(tuned), "revert");
            String message = assertThrows(IllegalArgumentException.class, () -> patch.revert(base)).getMessage();
            assertTrue(message.contains("differs from the patch's values"), message);
        }
    }

    @Test
    void aPatchSavedWithBaseValuesRevertsWithoutTheBase() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(12);
            Map<String, Tensor> tuned = TestModels.perturbed(base, 0.1, 13);
            Patch patch = Patch.diff(base, tuned, "p");
            for (Compression c : Compression.values()) {
                Path file = dir.resolve("revertible." + c);
                patch.save(file, c, true);
                Patch loaded = Patch.load(file);
                assertEquals(patch, loaded, c + ": base values read back");
                assertBitEqual(base, loaded.revert(tuned), c + ": revert");
            }
            Path file = dir.resolve("without");
            patch.save(file, Compression.NONE);
            Patch plain = Patch.load(file);
            String message = assertThrows(IllegalStateException.class, () -> plain.save(dir.resolve("x"), Compression.NONE, true))
                    .getMessage();
            assertTrue(message.contains("does not carry base values"), message);
            assertFalse(Files.exists(dir.resolve("x")));
        }
    }

    /** Builds base with the changes of both tuned models written in, independently of Patch. */
    private static Map<String, Tensor> merged(Map<String, Tensor> base, Map<String, Tensor> t1, Map<String, Tensor> t2) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        base.forEach((name, b) -> {
            byte[] result = b.toByteArray();
            byte[] x = b.toByteArray();
            for (Map<String, Tensor> tuned : List.of(t1, t2)) {
                byte[] y = tuned.get(name).toByteArray();
                for (int i = 0; i < x.length; i++) {
                    if (x[i] != y[i]) {
                        result[i] = y[i];
                    }
                }
            }
            out.put(name, Tensor.ofBytes(result, b.dtype(), b.shape()));
        });
        return out;
    }

    @Test
    void composingDisjointPatchesEqualsApplyingBothInEitherOrder() {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(12);
            Map<String, Tensor> t1 = TestModels.perturbed(base, 0.05, 13);
            Patch p1 = Patch.diff(base, t1, "one");
            // t2 changes only entries p1 leaves alone
            Map<String, Tensor> t2raw = TestModels.perturbed(base, 0.05, 14);
            Patch p2 = Patch.diff(base, t2raw, "two");
            Patch p2disjoint = Patch.diff(base, t2raw, SparseMask.fromIndices(shapes(base),
                    complementOf(p1, base)), "two, disjoint");
            Map<String, Tensor> t2 = p2disjoint.apply(base);
            Map<String, Tensor> expected = merged(base, t1, t2);
            Patch ab = Patch.compose(ConflictPolicy.ERROR, List.of(p1, p2disjoint));
            Patch ba = Patch.compose(ConflictPolicy.ERROR, List.of(p2disjoint, p1));
            assertEquals(ab.tensors(), ba.tensors(), "order does not matter for disjoint patches");
            assertBitEqual(expected, ab.apply(base), "p1 then p2");
            assertBitEqual(expected, ba.apply(base), "p2 then p1");
            assertBitEqual(base, ab.revert(ab.apply(base)), "composed patches revert too");
            assertTrue(p2.count() > p2disjoint.count(), "the raw second patch overlapped the first");
        }
    }

    private static Map<String, long[]> shapes(Map<String, Tensor> model) {
        Map<String, long[]> out = new TreeMap<>();
        model.forEach((name, t) -> out.put(name, t.shape()));
        return out;
    }

    private static Map<String, long[]> complementOf(Patch p, Map<String, Tensor> model) {
        Map<String, long[]> out = new TreeMap<>();
        model.forEach((name, t) -> {
            TensorPatch tp = p.tensors().get(name);
            List<Long> keep = new ArrayList<>();
            for (long i = 0; i < t.numel(); i++) {
                if (tp == null || Arrays.binarySearch(tp.indices(), i) < 0) {
                    keep.add(i);
                }
            }
            out.put(name, keep.stream().mapToLong(Long::longValue).toArray());
        });
        return out;
    }

    @Test
    void conflictsFollowThePolicy() {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = Map.of("w", Tensor.of(new float[] {1, 2, 3, 4}, 4), "b", Tensor.of(new float[] {9}, 1));
            Patch p1 = Patch.diff(base, Map.of("w", Tensor.of(new float[] {1, 5, 7, 4}, 4), "b", Tensor.of(new float[] {9}, 1)), "p1");
            Patch p2 = Patch.diff(base, Map.of("w", Tensor.of(new float[] {1, 6, 7, 0.1f}, 4), "b", Tensor.of(new float[] {8}, 1)), "p2");
            String message = assertThrows(IllegalArgumentException.class,
                    () -> Patch.compose(ConflictPolicy.ERROR, List.of(p1, p2))).getMessage();
            assertTrue(message.startsWith("patches set 1 entries to different values")
                    && message.contains("'w' flat index 1: 5.0, 6.0 (in patch order)"),
                    message);
            assertArrayEquals(new float[] {1, 6, 7, 0.1f}, Patch.compose(ConflictPolicy.LAST_WINS, List.of(p1, p2))
                    .apply(base).get("w").toFloatArray(), "index 2 agrees, so it is no conflict");
            assertArrayEquals(new float[] {1, 5, 7, 0.1f}, Patch.compose(ConflictPolicy.LAST_WINS, List.of(p2, p1))
                    .apply(base).get("w").toFloatArray());
            Patch averaged = Patch.compose(ConflictPolicy.AVERAGE, List.of(p1, p2));
            assertArrayEquals(new float[] {1, 5.5f, 7, 0.1f}, averaged.apply(base).get("w").toFloatArray());
            assertArrayEquals(new float[] {8}, averaged.apply(base).get("b").toFloatArray());
        }
    }

    @Test
    void averageRoundsEachDtypeToNearest() {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = Map.of("h", Tensor.ofBytes(new byte[2], DType.BF16, 1), "i", Tensor.of(new int[] {0}, 1));
            float a = 1.0f;
            float b = 1.0f + 0x1p-7f; // adjacent bf16 values: the mean lies halfway, ties go to even (1.0)
            Patch p1 = Patch.diff(base, Map.of("h", bf16(a), "i", Tensor.of(new int[] {3}, 1)), "p1");
            Patch p2 = Patch.diff(base, Map.of("h", bf16(b), "i", Tensor.of(new int[] {6}, 1)), "p2");
            Map<String, Tensor> out = Patch.compose(ConflictPolicy.AVERAGE, List.of(p1, p2)).apply(base);
            assertEquals(1.0f, out.get("h").toFloatArray()[0]);
            assertArrayEquals(new int[] {4}, out.get("i").toIntArray(), "4.5 rounds half to even");
        }
    }

    private static Tensor bf16(float value) {
        int bits = Float.floatToRawIntBits(value) >>> 16;
        return Tensor.ofBytes(new byte[] {(byte) bits, (byte) (bits >>> 8)}, DType.BF16, 1);
    }

    @Test
    void composeRefusesPatchesOfDifferentBases() {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(15);
            Map<String, Tensor> tuned = TestModels.perturbed(base, 0.1, 16);
            Patch p1 = Patch.diff(base, tuned, "p1");
            Patch p2 = Patch.diff(tuned, TestModels.perturbed(tuned, 0.1, 17), "p2");
            String message = assertThrows(IllegalArgumentException.class,
                    () -> Patch.compose(ConflictPolicy.LAST_WINS, List.of(p1, p2))).getMessage();
            assertTrue(message.contains(p1.baseDigest()) && message.contains(p2.baseDigest()), message);
        }
    }

    @Test
    void savesAndLoadsPlainAndCompressed() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(18);
            Map<String, Tensor> tuned = TestModels.perturbed(base, 0.2, 19);
            Patch patch = Patch.diff(base, tuned, "round trip ✓");
            for (Compression c : Compression.values()) {
                Path file = dir.resolve("p." + c);
                patch.save(file, c);
                Patch loaded = Patch.load(file);
                assertEquals(patch.withBaseValues(base).tensors(), loaded.withBaseValues(base).tensors(), c.toString());
                assertEquals("round trip ✓", loaded.description());
                assertBitEqual(tuned, loaded.apply(base), c + ": apply after load");
            }
        }
    }

    @Test
    void deltaEncodesIndicesWhenThatIsNarrowerOrTheFileIsCompressed() throws Exception {
        long n = 1L << 33; // never allocated: a TensorPatch only holds its entries
        long[] indices = {(1L << 31) - 10, (1L << 31) + 5, (1L << 31) + 100}; // the first index and the gaps fit int32
        TensorPatch far = new TensorPatch(DType.F32, new long[] {n}, indices, new byte[12], null);
        TensorPatch near = new TensorPatch(DType.F32, new long[] {100}, new long[] {3, 50}, new byte[8], null);
        Patch patch = new Patch("ab".repeat(32), "widths", Map.of("far", far, "near", near));
        Path plain = dir.resolve("plain.patch");
        patch.save(plain, Compression.NONE);
        SafetensorsHeader header = SafetensorsHeader.read(plain);
        Map<String, DType> dtypes = new TreeMap<>();
        header.tensors().forEach(t -> dtypes.put(t.name(), t.dtype()));
        assertEquals(DType.I32, dtypes.get("far.indices"), "absolute needs int64, deltas fit int32");
        assertEquals(DType.I32, dtypes.get("near.indices"));
        String described = header.metadata().get("tensors");
        assertTrue(described.contains("\"far\":{\"dtype\":\"F32\",\"shape\":[8589934592],\"index_encoding\":\"delta\"}")
                && described.contains("\"index_encoding\":\"absolute\"}"), described);
        assertEquals(patch, Patch.load(plain));
        Path compressed = dir.resolve("compressed.patch");
        patch.save(compressed, Compression.ZSTD);
        assertEquals(patch, Patch.load(compressed));
        byte[] magic = Files.readAllBytes(compressed);
        assertArrayEquals(new byte[] {0x28, (byte) 0xb5, 0x2f, (byte) 0xfd}, Arrays.copyOf(magic, 4), "zstd magic");
    }

    @Test
    void supportIsTheMaskOfPatchedEntries() {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(20);
            Patch patch = Patch.diff(base, TestModels.perturbed(base, 0.1, 21), "p");
            SparseMask support = patch.support();
            assertEquals(patch.count(), support.count());
            patch.tensors().forEach((name, t) -> assertArrayEquals(t.indices(), support.get(name).indices(), name));
            assertEquals(0, Patch.diff(base, base, "nothing").count());
        }
    }
}
