package io.tessera.sparse;

import io.tessera.engine.Tensor;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

/**
 * The SHA-256 that mask and patch files carry in their {@code __metadata__} under {@link #KEY}: over every
 * other metadata entry and every tensor (names, dtypes, shapes, bytes), canonically encoded as in
 * {@link ModelDigest}. Safetensors has no checksum of its own, so without this a flipped bit in a value
 * or in the description would load silently.
 */
final class FileChecksum {
    static final String KEY = "content_sha256";
    private static final byte[] DOMAIN = "tessera.file-checksum.v1\0".getBytes(StandardCharsets.US_ASCII);

    private FileChecksum() {}

    static String of(Map<String, Tensor> tensors, Map<String, String> metadata) {
        MessageDigest sha = ModelDigest.sha256();
        sha.update(DOMAIN);
        TreeMap<String, String> sorted = new TreeMap<>(metadata);
        sorted.remove(KEY);
        ModelDigest.feedLong(sha, sorted.size());
        sorted.forEach((key, value) -> {
            ModelDigest.feedBytes(sha, key.getBytes(StandardCharsets.UTF_8));
            ModelDigest.feedBytes(sha, value.getBytes(StandardCharsets.UTF_8));
        });
        ModelDigest.feedTensors(sha, tensors);
        return HexFormat.of().formatHex(sha.digest());
    }
}
