package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each way a patch file can be malformed, one at a time, is rejected with a message naming the file and
 * the tensor. Semantic faults (unsorted indices, wrong dtypes) are written with a valid checksum, so the
 * check under test is the one that fires.
 */
class PatchFileValidationTest {
    private static final String BASE = "0123456789abcdef".repeat(4);

    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** A patch file of tensor "w" (f32[10, 10]) written with the given indices and values, after {@code edit}. */
    private Path craft(String name, Tensor indices, Tensor values, Consumer<Map<String, String>> edit) throws IOException {
        return craft(name, indices, values, Map.of(), edit);
    }

    /** As above, with {@code extra} tensors (e.g. base values) in the file. */
    private Path craft(String name, Tensor indices, Tensor values, Map<String, Tensor> extra, Consumer<Map<String, String>> edit)
            throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>(extra);
        tensors.put("w.indices", indices);
        tensors.put("w.values", values);
        Map<String, String> metadata = new LinkedHashMap<>(Map.of("kind", "patch", "format_version", "1", "base_sha256", BASE,
                "description", "crafted", "tensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[10,10],\"index_encoding\":\"absolute\"}}"));
        edit.accept(metadata);
        FileMetadata.seal(tensors, metadata);
        Path file = dir.resolve(name);
        Safetensors.write(file, tensors, metadata);
        return file;
    }

    private Path craft(String name, int[] indices, float[] values) throws IOException {
        return craft(name, Tensor.of(indices, indices.length), Tensor.of(values, values.length), m -> { });
    }

    private static void assertRejected(Path file, String... fragments) {
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> Patch.load(file), file.toString());
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
        }
        assertTrue(e.getMessage().contains(file.toString()), "the message names the file: " + e.getMessage());
    }

    @Test
    void aWellFormedCraftedFileLoads() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            Patch p = Patch.load(craft("ok", new int[] {1, 5, 99}, new float[] {1, 2, 3}));
            assertEquals(3, p.count());
            assertEquals(BASE, p.baseDigest());
        }
    }

    @Test
    void indicesOutOfRangeUnsortedOrRepeatedAreRejected() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            assertRejected(craft("range", new int[] {1, 100}, new float[] {1, 2}), "tensor 'w'",
                    "index 100 at position 1 is outside [0, 100)");
            assertRejected(craft("negative", new int[] {-1}, new float[] {1}), "tensor 'w'", "index -1 at position 0");
            assertRejected(craft("unsorted", new int[] {5, 3}, new float[] {1, 2}), "tensor 'w'", "index 3 at position 1 does not exceed");
            assertRejected(craft("repeated", new int[] {5, 5}, new float[] {1, 2}), "tensor 'w'", "sorted and unique");
            assertRejected(craft("zero delta", Tensor.of(new int[] {5, 0}, 2), Tensor.of(new float[] {1, 2}, 2),
                    m -> m.put("tensors", m.get("tensors").replace("absolute", "delta"))), "delta 0 at position 1 is not positive");
            assertRejected(craft("delta overflow", Tensor.of(new long[] {5, Long.MAX_VALUE}, 2), Tensor.of(new float[] {1, 2}, 2),
                    m -> m.put("tensors", m.get("tensors").replace("absolute", "delta"))), "is outside [0, 100)");
        }
    }

    @Test
    void valuesAndIndicesOfTheWrongTypeOrCountAreRejected() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            assertRejected(craft("int values", Tensor.of(new int[] {1}, 1), Tensor.of(new int[] {7}, 1), m -> { }),
                    "tensor 'w'", "values must be f32[1] (the declared dtype, one per index), not i32[1]");
            assertRejected(craft("count", Tensor.of(new int[] {1, 2}, 2), Tensor.of(new float[] {7}, 1), m -> { }),
                    "values must be f32[2]");
            assertRejected(craft("float indices", Tensor.of(new float[] {1}, 1), Tensor.of(new float[] {7}, 1), m -> { }),
                    "indices must be a 1-D int32 or int64 tensor, not f32[1]");
            assertRejected(craft("2-d indices", Tensor.of(new int[] {1, 2}, 1, 2), Tensor.of(new float[] {7, 8}, 2), m -> { }),
                    "indices must be a 1-D");
            assertRejected(craft("base count", Tensor.of(new int[] {1, 2}, 2), Tensor.of(new float[] {7, 8}, 2),
                    Map.of("w.base_values", Tensor.of(new float[] {7}, 1)), m -> { }),
                    "tensor 'w'", "base values must be f32[2] (as the values), not f32[1]");
            assertRejected(craft("base dtype", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1),
                    Map.of("w.base_values", Tensor.of(new int[] {7}, 1)), m -> { }), "base values must be f32[1]");
            assertRejected(craft("bad dtype", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1),
                    m -> m.put("tensors", m.get("tensors").replace("F32", "F31"))), "unsupported dtype 'F31'");
        }
    }

    @Test
    void missingOrWrongMetadataIsRejected() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            for (String key : new String[] {"kind", "format_version", "base_sha256", "description", "tensors"}) {
                assertRejected(craft("no " + key, Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1), m -> m.remove(key)),
                        "__metadata__ has no '" + key + "' entry");
            }
            assertRejected(craft("no kind", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1), m -> m.remove("kind")),
                    "not a 'patch' file");
            assertRejected(craft("kind", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1), m -> m.put("kind", "sparse-mask")),
                    "is a 'sparse-mask' file, not a 'patch' file");
            assertRejected(craft("version", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1), m -> m.put("format_version", "2")),
                    "patch format version '2' is not supported");
            assertRejected(craft("digest", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1), m -> m.put("base_sha256", "abc")),
                    "base_sha256 'abc' is not 64 lower-case hex digits");
            assertRejected(craft("json", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1), m -> m.put("tensors", "{\"w\":")),
                    "metadata 'tensors' is not valid JSON");
            assertRejected(craft("shape", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1),
                    m -> m.put("tensors", m.get("tensors").replace("[10,10]", "[10,-10]"))), "tensor 'w'", "not a non-negative");
            assertRejected(craft("huge shape", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1),
                    m -> m.put("tensors", m.get("tensors").replace("[10,10]", "[4294967296,4294967296]"))), "more than 2^63 elements");
            assertRejected(craft("encoding", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1),
                    m -> m.put("tensors", m.get("tensors").replace("absolute", "rle"))), "index_encoding 'rle'");
            assertRejected(craft("undescribed", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1),
                    m -> m.put("tensors", "{}")), "unexpected tensor 'w.");
            assertRejected(craft("orphan description", Tensor.of(new int[] {1}, 1), Tensor.of(new float[] {7}, 1),
                    m -> m.put("tensors", m.get("tensors").replace("}}", "},\"v\":{\"dtype\":\"F32\",\"shape\":[2],"
                            + "\"index_encoding\":\"absolute\"}}"))), "tensor 'v'", "needs both v.indices and v.values");
            Path model = dir.resolve("model.safetensors");
            Safetensors.write(model, Map.of("w", Tensor.zeros(2)));
            assertRejected(model, "model.safetensors: not a 'patch' file (its __metadata__ has no 'kind' entry)");
        }
    }

    @Test
    void corruptionIsCaughtByTheChecksumAndTruncationByTheReader() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            Path good = craft("good", new int[] {1, 5, 99}, new float[] {1, 2, 3});
            byte[] bytes = Files.readAllBytes(good);
            byte[] flipped = bytes.clone();
            flipped[bytes.length - 3] ^= 0x01; // the last value's mantissa: still a valid float
            Path f = dir.resolve("flipped");
            Files.write(f, flipped);
            assertRejected(f, "content checksum mismatch");
            for (int length : new int[] {0, 5, 8, 40, bytes.length - 1}) {
                Path t = dir.resolve("truncated-" + length);
                Files.write(t, Arrays.copyOf(bytes, length));
                assertRejected(t);
            }
        }
    }

    @Test
    void zstdFilesAreCheckedAndBounded() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(1);
            Patch patch = Patch.diff(base, TestModels.perturbed(base, 0.3, 2), "zstd");
            Path file = dir.resolve("p.zst");
            patch.save(file, Compression.ZSTD);
            byte[] bytes = Files.readAllBytes(file);
            byte[] flipped = bytes.clone();
            flipped[bytes.length / 2] ^= 0x40;
            Path f = dir.resolve("flipped.zst");
            Files.write(f, flipped);
            assertRejected(f);
            Path t = dir.resolve("truncated.zst");
            Files.write(t, Arrays.copyOf(bytes, bytes.length - 5));
            assertRejected(t, "not a valid zstd stream");
            SparseFormatException limit = assertThrows(SparseFormatException.class, () -> Patch.load(file, 1000));
            assertTrue(limit.getMessage().contains("decompresses to more than the limit of 1000 bytes"), limit.getMessage());
            assertEquals(patch.withBaseValues(base).tensors(), Patch.load(file, 1 << 20).withBaseValues(base).tensors());
        }
    }

    @Test
    void maskFilesAreValidatedToo() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("w.indices", Tensor.of(new int[] {4, 2}, 2));
            Map<String, String> metadata = new LinkedHashMap<>(Map.of("kind", "sparse-mask", "format_version", "1", "tensors",
                    "{\"w\":{\"shape\":[10]}}"));
            FileMetadata.seal(tensors, metadata);
            Path file = dir.resolve("mask");
            Safetensors.write(file, tensors, metadata);
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> SparseMask.load(file));
            assertTrue(e.getMessage().contains("tensor 'w'") && e.getMessage().contains("does not exceed"), e.getMessage());

            tensors.put("w.indices", Tensor.of(new int[] {2}, 1));
            tensors.put("w.bitmap", Tensor.ofBytes(new byte[] {1, 0}, DType.U8, 2));
            metadata.remove(FileChecksum.KEY);
            FileMetadata.seal(tensors, metadata);
            Safetensors.write(file, tensors, metadata);
            e = assertThrows(SafetensorsFormatException.class, () -> SparseMask.load(file));
            assertTrue(e.getMessage().contains("tensor 'w' has both an index list and a bitmap"), e.getMessage());

            tensors.remove("w.indices");
            tensors.put("w.bitmap", Tensor.ofBytes(new byte[] {1, (byte) 0x80}, DType.U8, 2));
            metadata.remove(FileChecksum.KEY);
            FileMetadata.seal(tensors, metadata);
            Safetensors.write(file, tensors, metadata);
            e = assertThrows(SafetensorsFormatException.class, () -> SparseMask.load(file));
            assertTrue(e.getMessage().contains("sets bits beyond its 10 elements"), e.getMessage());
        }
    }
}
