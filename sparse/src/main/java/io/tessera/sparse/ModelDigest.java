package io.tessera.sparse;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

/**
 * The canonical SHA-256 of a model's tensor data, which a patch records to name the base it applies to.
 * The tensors are taken in order of their names' UTF-8 bytes; each contributes its name, dtype, shape
 * and raw little-endian row-major bytes, every field length-prefixed so no two models share an input.
 * It depends only on the tensors, not on the file layout (tensor order, padding, metadata).
 */
public final class ModelDigest {
    private static final byte[] DOMAIN = "tessera.model-digest.v1\0".getBytes(StandardCharsets.US_ASCII);
    private static final long CHUNK = 1L << 30; // ByteBuffer views are int-sized

    private ModelDigest() {}

    /** Lower-case hex SHA-256 of {@code model} (CPU tensors; strided ones hash as their row-major values). */
    public static String of(Map<String, Tensor> model) {
        MessageDigest sha = sha256();
        sha.update(DOMAIN);
        feedTensors(sha, model);
        return HexFormat.of().formatHex(sha.digest());
    }

    /** The digest of the tensors in a safetensors file (read zero-copy, so the file is hashed where it lies). */
    public static String of(Path safetensorsFile) throws IOException {
        try (SafetensorsFile file = Safetensors.read(safetensorsFile)) {
            return of(file.tensors());
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform must provide SHA-256", e);
        }
    }

    /** Feeds the canonical encoding of {@code tensors} (name order, length-prefixed fields). */
    static void feedTensors(MessageDigest sha, Map<String, Tensor> tensors) {
        TreeMap<byte[], Map.Entry<String, Tensor>> sorted = new TreeMap<>(Arrays::compareUnsigned);
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            sorted.put(e.getKey().getBytes(StandardCharsets.UTF_8), e);
        }
        feedLong(sha, sorted.size());
        for (Map.Entry<byte[], Map.Entry<String, Tensor>> e : sorted.entrySet()) {
            Tensor t = e.getValue().getValue();
            feedBytes(sha, e.getKey());
            feedBytes(sha, t.dtype().safetensorsName().getBytes(StandardCharsets.US_ASCII));
            long[] shape = t.shape();
            feedLong(sha, shape.length);
            for (long d : shape) {
                feedLong(sha, d);
            }
            try (TensorScope scope = TensorScope.open()) {
                // a strided view (a weight stored transposed for inference) hashes as its row-major values
                MemorySegment data = HostTensors.bytes(t.contiguous(), "tensor '" + e.getValue().getKey() + "'");
                feedLong(sha, data.byteSize());
                for (long at = 0; at < data.byteSize(); at += CHUNK) {
                    sha.update(data.asSlice(at, Math.min(CHUNK, data.byteSize() - at)).asByteBuffer());
                }
            }
        }
    }

    static void feedBytes(MessageDigest sha, byte[] bytes) {
        feedLong(sha, bytes.length);
        sha.update(bytes);
    }

    static void feedLong(MessageDigest sha, long value) {
        sha.update(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).flip());
    }
}
