package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelDigestTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** The documented encoding, written out independently: domain, count, then per tensor in name order. */
    private static String reference(Map<String, byte[]> bytes, Map<String, String> dtypes, Map<String, long[]> shapes)
            throws Exception {
        ByteArrayOutputStream s = new ByteArrayOutputStream();
        s.writeBytes("tessera.model-digest.v1\0".getBytes(StandardCharsets.US_ASCII));
        s.writeBytes(le(bytes.size()));
        for (String name : new java.util.TreeSet<>(bytes.keySet())) { // ASCII names: String order = UTF-8 byte order
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            s.writeBytes(le(n.length));
            s.writeBytes(n);
            byte[] d = dtypes.get(name).getBytes(StandardCharsets.US_ASCII);
            s.writeBytes(le(d.length));
            s.writeBytes(d);
            s.writeBytes(le(shapes.get(name).length));
            for (long dim : shapes.get(name)) {
                s.writeBytes(le(dim));
            }
            s.writeBytes(le(bytes.get(name).length));
            s.writeBytes(bytes.get(name));
        }
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.toByteArray()));
    }

    private static byte[] le(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    @Test
    void matchesTheDocumentedEncodingAndIgnoresFileLayout() throws Exception {
        try (TensorScope _ = TensorScope.open()) {
            byte[] w = new byte[6 * 4];
            for (int i = 0; i < w.length; i++) {
                w[i] = (byte) (i * 37);
            }
            Map<String, Tensor> model = new LinkedHashMap<>();
            model.put("z.bias", Tensor.ofBytes(new byte[] {1, 2}, DType.BF16, 1));
            model.put("a.weight", Tensor.ofBytes(w, DType.F32, 2, 3));
            String expected = reference(Map.of("z.bias", new byte[] {1, 2}, "a.weight", w),
                    Map.of("z.bias", "BF16", "a.weight", "F32"), Map.of("z.bias", new long[] {1}, "a.weight", new long[] {2, 3}));
            assertEquals(expected, ModelDigest.of(model));

            Path one = dir.resolve("one.safetensors");
            Path two = dir.resolve("two.safetensors");
            Safetensors.write(one, model);
            Safetensors.write(two, Map.of("a.weight", model.get("a.weight"), "z.bias", model.get("z.bias")),
                    Map.of("note", "different metadata, header length and padding"));
            assertEquals(expected, ModelDigest.of(one));
            assertEquals(expected, ModelDigest.of(two));
        }
    }

    /** A weight kept transposed in memory (as inference loads GPT-2's Conv1D) is the same model: it hashes row-major. */
    @Test
    void aStridedViewHashesAsItsRowMajorValues() {
        try (TensorScope _ = TensorScope.open()) {
            Tensor weight = Tensor.of(new float[] {1.5f, -2, 3, 0.25f, 5, -6}, 2, 3);
            Tensor transposedInMemory = weight.transposedCopy();
            assertEquals(ModelDigest.of(Map.of("w", weight)), ModelDigest.of(Map.of("w", transposedInMemory)));
            assertNotEquals(ModelDigest.of(Map.of("w", weight)), ModelDigest.of(Map.of("w", weight.t())), "its transpose differs");
        }
    }

    @Test
    void changesWithEveryFieldItCovers() {
        try (TensorScope _ = TensorScope.open()) {
            byte[] bytes = new byte[24];
            String base = ModelDigest.of(Map.of("w", Tensor.ofBytes(bytes, DType.F32, 2, 3)));
            byte[] flipped = bytes.clone();
            flipped[17] ^= 0x10;
            assertNotEquals(base, ModelDigest.of(Map.of("w", Tensor.ofBytes(flipped, DType.F32, 2, 3))), "one bit");
            assertNotEquals(base, ModelDigest.of(Map.of("w", Tensor.ofBytes(bytes, DType.I32, 2, 3))), "dtype");
            assertNotEquals(base, ModelDigest.of(Map.of("w", Tensor.ofBytes(bytes, DType.F32, 3, 2))), "shape");
            assertNotEquals(base, ModelDigest.of(Map.of("v", Tensor.ofBytes(bytes, DType.F32, 2, 3))), "name");
            assertNotEquals(ModelDigest.of(Map.of("ab", Tensor.ofBytes(new byte[] {1}, DType.U8, 1))),
                    ModelDigest.of(Map.of("a", Tensor.ofBytes(new byte[] {1}, DType.U8, 1))), "length prefixes keep fields apart");
        }
    }
}
