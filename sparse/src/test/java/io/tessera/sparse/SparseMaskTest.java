package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.SafetensorsHeader;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SparseMask and TensorMask against java.util.BitSet as the reference set implementation. */
class SparseMaskTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** A random subset of [0, n) with about {@code density} of the entries. */
    static BitSet randomSet(SplittableRandom rng, int n, double density) {
        BitSet s = new BitSet(n);
        for (int i = 0; i < n; i++) {
            if (rng.nextDouble() < density) {
                s.set(i);
            }
        }
        return s;
    }

    static long[] indicesOf(BitSet s) {
        return s.stream().mapToLong(i -> i).toArray();
    }

    private static long[] everyThird(int k) {
        long[] out = new long[k];
        for (int i = 0; i < k; i++) {
            out[i] = 3L * i;
        }
        return out;
    }

    @Test
    void formIsWhicheverIsSmallerOnDisk() {
        long[] shape = {10, 100}; // 1000 elements: a 125-byte bitmap, or 4 bytes per int32 index
        TensorMask below = TensorMask.ofIndices(shape, everyThird(31));
        TensorMask above = TensorMask.ofIndices(shape, everyThird(32));
        assertFalse(below.isBitmap(), "31 indices = 124 bytes < 125");
        assertEquals(124, below.storedBytes());
        assertTrue(above.isBitmap(), "32 indices = 128 bytes > 125");
        assertEquals(125, above.storedBytes());
        assertArrayEquals(everyThird(32), above.indices(), "the bitmap form still lists the same entries");
        assertEquals(4, TensorMask.indexWidth((1L << 31) - 1));
        assertEquals(8, TensorMask.indexWidth(1L << 31));
    }

    @Test
    void setOperationsMatchBitSetInEveryFormCombination() {
        SplittableRandom rng = new SplittableRandom(2);
        for (int n : new int[] {0, 1, 63, 64, 65, 1000, 4099}) {
            for (double da : new double[] {0.005, 0.3}) {
                for (double db : new double[] {0.01, 0.5}) {
                    BitSet a = randomSet(rng, n, da);
                    BitSet b = randomSet(rng, n, db);
                    long[] shape = {n};
                    TensorMask ma = TensorMask.ofIndices(shape, indicesOf(a));
                    TensorMask mb = TensorMask.ofIndices(shape, indicesOf(b));
                    BitSet union = (BitSet) a.clone();
                    union.or(b);
                    BitSet inter = (BitSet) a.clone();
                    inter.and(b);
                    BitSet diff = (BitSet) a.clone();
                    diff.andNot(b);
                    String where = "n=" + n + " densities " + da + "/" + db;
                    assertArrayEquals(indicesOf(union), ma.union(mb).indices(), where + " union");
                    assertArrayEquals(indicesOf(inter), ma.intersection(mb).indices(), where + " intersection");
                    assertArrayEquals(indicesOf(diff), ma.difference(mb).indices(), where + " difference");
                    assertEquals(union.cardinality(), ma.union(mb).count(), where);
                    assertEquals(n == 0 ? 0 : (double) a.cardinality() / n, ma.density(), 1e-15, where);
                    for (int i = 0; i < n; i += 7) {
                        assertEquals(a.get(i), ma.contains(i), where + " contains " + i);
                    }
                    List<Long> visited = new ArrayList<>();
                    ma.forEachIndex(visited::add);
                    assertArrayEquals(indicesOf(a), visited.stream().mapToLong(Long::longValue).toArray(), where);
                    assertEquals(ma, TensorMask.ofBitmap(shape, ma.packedBits()), where + " bitmap round trip");
                }
            }
        }
    }

    @Test
    void packedBitsFollowTheFileLayout() {
        TensorMask m = TensorMask.ofIndices(new long[] {12}, new long[] {0, 3, 8, 11});
        assertArrayEquals(new byte[] {0b0000_1001, 0b0000_1001}, m.packedBits(), "bit i % 8 of byte i / 8");
        IllegalArgumentException padding = assertThrows(IllegalArgumentException.class,
                () -> TensorMask.ofBitmap(new long[] {12}, new byte[] {0, 0b0001_0000}));
        assertTrue(padding.getMessage().contains("beyond its 12 elements"), padding.getMessage());
        IllegalArgumentException length = assertThrows(IllegalArgumentException.class,
                () -> TensorMask.ofBitmap(new long[] {12}, new byte[3]));
        assertTrue(length.getMessage().contains("must be 2 bytes, got 3"), length.getMessage());
    }

    @Test
    void fromIndicesReportsEveryProblemAtOnce() {
        Map<String, long[]> shapes = new TreeMap<>(Map.of("a", new long[] {4, 5}, "b", new long[] {10}, "c", new long[] {3},
                "only.shape", new long[] {2}));
        Map<String, long[]> indices = new TreeMap<>(Map.of("a", new long[] {1, 20}, "b", new long[] {4, 4}, "c", new long[] {2, 1},
                "only.indices", new long[] {0}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SparseMask.fromIndices(shapes, indices));
        String message = e.getMessage();
        for (String expected : new String[] {"5 problems", "'only.shape' only in shapes", "'only.indices' only in indices",
                "tensor 'a': index 20 (position 1) is outside [0, 20)", "tensor 'b': index 4 (position 1) does not exceed",
                "tensor 'c': index 1 (position 1) does not exceed"}) {
            assertTrue(message.contains(expected), "missing '" + expected + "' in:\n" + message);
        }
    }

    @Test
    void setOperationsRefuseMasksOfDifferentTensorsListingEveryMismatch() {
        SparseMask left = SparseMask.fromIndices(Map.of("w", new long[] {4}, "x", new long[] {2}, "y", new long[] {3}),
                Map.of("w", new long[] {1}, "x", new long[] {0}, "y", new long[] {2}));
        SparseMask right = SparseMask.fromIndices(Map.of("w", new long[] {2, 2}, "x", new long[] {2}, "z", new long[] {3}),
                Map.of("w", new long[] {1}, "x", new long[] {1}, "z", new long[] {2}));
        String message = assertThrows(IllegalArgumentException.class, () -> left.union(right)).getMessage();
        assertTrue(message.contains("3 problems") && message.contains("'y' only in this mask")
                && message.contains("'z' only in the other mask") && message.contains("'w' has shape [4] here but [2, 2]"), message);
        SparseMask both = left.union(SparseMask.fromIndices(Map.of("w", new long[] {4}, "x", new long[] {2}, "y", new long[] {3}),
                Map.of("w", new long[] {3}, "x", new long[] {0}, "y", new long[] {})));
        assertArrayEquals(new long[] {1, 3}, both.get("w").indices());
        assertEquals(4, both.count());
        assertEquals(4.0 / 9, both.density(), 1e-15);
    }

    @Test
    void fromBooleansSelectsTheNonZeroEntries() {
        SplittableRandom rng = new SplittableRandom(3);
        BitSet expected = randomSet(rng, 3 * 7 * 11, 0.2);
        byte[] bytes = new byte[3 * 7 * 11];
        expected.stream().forEach(i -> bytes[i] = (byte) (1 + rng.nextInt(255)));
        try (TensorScope _ = TensorScope.open()) {
            SparseMask mask = SparseMask.fromBooleans(Map.of("t", Tensor.ofBytes(bytes, DType.U8, 3, 7, 11),
                    "b", Tensor.ofBytes(new byte[] {0, 1, 1, 0}, DType.BOOL, 2, 2)));
            assertArrayEquals(indicesOf(expected), mask.get("t").indices());
            assertArrayEquals(new long[] {3, 7, 11}, mask.get("t").shape());
            assertArrayEquals(new long[] {1, 2}, mask.get("b").indices());
            assertThrows(IllegalArgumentException.class, () -> SparseMask.fromBooleans(Map.of("f", Tensor.zeros(3))));
        }
    }

    @Test
    void saveAndLoadRoundTripsBothFormsAndBothIndexWidths() throws Exception {
        SplittableRandom rng = new SplittableRandom(4);
        long huge = 1L << 32; // int64 indices; the mask never allocates per element
        SparseMask mask = SparseMask.fromIndices(
                Map.of("sparse", new long[] {33, 31}, "dense", new long[] {1000}, "huge", new long[] {1 << 16, 1 << 16},
                        "empty", new long[] {0, 5}, "scalar", new long[] {}),
                Map.of("sparse", indicesOf(randomSet(rng, 33 * 31, 0.01)), "dense", indicesOf(randomSet(rng, 1000, 0.5)),
                        "huge", new long[] {5, huge - 1}, "empty", new long[] {}, "scalar", new long[] {0}));
        Path file = dir.resolve("mask.safetensors");
        mask.save(file);
        assertEquals(mask, SparseMask.load(file));
        SafetensorsHeader header = SafetensorsHeader.read(file);
        Map<String, String> dtypes = new TreeMap<>();
        header.tensors().forEach(t -> dtypes.put(t.name(), t.dtype().safetensorsName()));
        assertEquals(Map.of("sparse.indices", "I32", "dense.bitmap", "U8", "huge.indices", "I64", "empty.indices", "I32",
                "scalar.bitmap", "U8"), dtypes, "a scalar with one entry: a 1-byte bitmap beats a 4-byte index");
        assertEquals("sparse-mask", header.metadata().get("kind"));
        assertEquals("1", header.metadata().get("format_version"));
    }
}
