package io.tessera.sparse;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.engine.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code __metadata__} that mask and patch files share: {@code kind} and {@code format_version} (so
 * one kind of file is never read as the other), a {@code tensors} JSON object describing each masked or
 * patched tensor (at least its {@code shape}), and the {@link FileChecksum}. Readers check all of it
 * before touching tensor data.
 */
final class FileMetadata {
    static final String KIND = "kind";
    static final String FORMAT_VERSION = "format_version";
    static final String TENSORS = "tensors";
    /** Tensors have at most this many dims (as io.tessera.engine.Tensor). */
    private static final int MAX_DIMS = 8;

    static final JsonMapper JSON = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    private FileMetadata() {}

    /** The metadata of a new file: kind, version, the tensors object, plus {@code extra}; checksum not yet added. */
    static Map<String, String> create(String kind, String version, ObjectNode tensors, Map<String, String> extra) {
        Map<String, String> metadata = new LinkedHashMap<>(extra);
        metadata.put(KIND, kind);
        metadata.put(FORMAT_VERSION, version);
        metadata.put(TENSORS, tensors.toString());
        return metadata;
    }

    /** Adds the checksum of {@code tensors} and {@code metadata} to {@code metadata}. */
    static void seal(Map<String, Tensor> tensors, Map<String, String> metadata) {
        metadata.put(FileChecksum.KEY, FileChecksum.of(tensors, metadata));
    }

    /** Checks kind, version and checksum; returns the parsed {@code tensors} object (name -> description). */
    static Map<String, JsonNode> open(Map<String, Tensor> tensors, Map<String, String> metadata, String kind,
                                      String version, String source) throws SparseFormatException {
        String actualKind = metadata.get(KIND);
        if (actualKind == null) {
            // e.g. a model given where a patch or a mask belongs
            throw new SparseFormatException(source + ": not a '" + kind + "' file (its __metadata__ has no '" + KIND
                    + "' entry)");
        }
        if (!actualKind.equals(kind)) {
            throw new SparseFormatException(source + ": is a '" + actualKind + "' file, not a '" + kind + "' file");
        }
        String actualVersion = require(metadata, FORMAT_VERSION, source);
        if (!actualVersion.equals(version)) {
            throw new SparseFormatException(source + ": " + kind + " format version '" + actualVersion
                    + "' is not supported (this reader knows version " + version + ")");
        }
        String recorded = require(metadata, FileChecksum.KEY, source);
        String actual = FileChecksum.of(tensors, metadata);
        if (!actual.equals(recorded)) {
            throw new SparseFormatException(source + ": content checksum mismatch (recorded " + recorded + ", computed "
                    + actual + "): the file was corrupted or edited");
        }
        JsonNode root;
        try {
            root = JSON.readTree(require(metadata, TENSORS, source));
        } catch (JacksonException e) {
            throw new SparseFormatException(source + ": metadata '" + TENSORS + "' is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new SparseFormatException(source + ": metadata '" + TENSORS + "' is not a JSON object");
        }
        Map<String, JsonNode> entries = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (!e.getValue().isObject()) {
                throw new SparseFormatException(source + ": tensor '" + e.getKey() + "': its description in metadata '"
                        + TENSORS + "' is not an object");
            }
            entries.put(e.getKey(), e.getValue());
        }
        return entries;
    }

    static String require(Map<String, String> metadata, String key, String source) throws SparseFormatException {
        String value = metadata.get(key);
        if (value == null) {
            throw new SparseFormatException(source + ": __metadata__ has no '" + key + "' entry");
        }
        return value;
    }

    /** The {@code shape} of a tensor's description: at most 8 non-negative dims whose product fits a long. */
    static long[] shape(JsonNode entry, String name, String source) throws SparseFormatException {
        JsonNode node = entry.get("shape");
        if (node == null || !node.isArray() || node.size() > MAX_DIMS) {
            throw new SparseFormatException(source + ": tensor '" + name + "': 'shape' must be an array of at most "
                    + MAX_DIMS + " dims");
        }
        long[] shape = new long[node.size()];
        for (int d = 0; d < shape.length; d++) {
            JsonNode dim = node.get(d);
            if (!dim.isIntegralNumber() || !dim.canConvertToLong() || dim.longValue() < 0) {
                throw new SparseFormatException(source + ": tensor '" + name + "': shape " + node
                        + " has a dim that is not a non-negative 64-bit integer");
            }
            shape[d] = dim.longValue();
        }
        try {
            HostTensors.numel(shape, "tensor '" + name + "'");
        } catch (IllegalArgumentException e) {
            throw new SparseFormatException(source + ": " + e.getMessage(), e);
        }
        return shape;
    }

    /** A required string field of a tensor's description. */
    static String text(JsonNode entry, String key, String name, String source) throws SparseFormatException {
        JsonNode node = entry.get(key);
        if (node == null || !node.isTextual()) {
            throw new SparseFormatException(source + ": tensor '" + name + "': '" + key + "' is missing or not a string");
        }
        return node.textValue();
    }
}
