package io.tessera.engine.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.tessera.engine.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The validated header of a safetensors file: each tensor's name, dtype, shape and byte range in the data
 * section (ordered by position), and the {@code __metadata__} strings. {@link #read(Path)} inspects a file
 * without touching its tensor data.
 *
 * <p>Layout: an 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON (possibly padded with
 * trailing spaces), then the data section; {@code data_offsets} are relative to the start of the data
 * section. Validation is defensive: the header length is checked against {@link Safetensors#MAX_HEADER_BYTES}
 * and the file size before anything is allocated, so a hostile file cannot make the reader allocate more
 * than the file size justifies. As in the reference implementation, the tensors must index every byte of the
 * data section exactly once: no overlap, no hole between tensors, no trailing bytes (only the header may be
 * padded).
 */
public record SafetensorsHeader(long headerLength, List<TensorInfo> tensors, Map<String, String> metadata) {

    /** Tensors have at most this many dims (as {@code io.tessera.engine.Tensor}). */
    static final int MAX_DIMS = 8;

    private static final String METADATA_KEY = "__metadata__";

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /** One tensor's entry: bytes {@code [begin, end)} of the data section. */
    public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
        public TensorInfo {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long byteSize() {
            return end - begin;
        }

        @Override
        public String toString() {
            return name + ": " + dtype + Arrays.toString(shape) + " @ [" + begin + ", " + end + ")";
        }
    }

    public SafetensorsHeader {
        tensors = List.copyOf(tensors);
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /** File offset of the data section (the 8-byte length field plus the header). */
    public long dataStart() {
        return 8 + headerLength;
    }

    /** Reads and validates the header of {@code file} (no tensor data is read). */
    public static SafetensorsHeader read(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(channel, channel.size(), file.toString());
        }
    }

    /** Reads and validates the header of a file of {@code fileSize} bytes open on {@code channel}. */
    static SafetensorsHeader read(FileChannel channel, long fileSize, String source) throws IOException {
        if (fileSize < 8) {
            throw new SafetensorsFormatException(source + ": file is " + fileSize
                    + " bytes long, shorter than the 8-byte header length field");
        }
        ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, prefix, 0, source);
        long n = prefix.getLong(0); // unsigned: negative means >= 2^63
        if (n < 0 || n > Safetensors.MAX_HEADER_BYTES) {
            throw new SafetensorsFormatException(source + ": header length " + Long.toUnsignedString(n)
                    + " exceeds the limit of " + Safetensors.MAX_HEADER_BYTES + " bytes" + textHint(prefix));
        }
        if (n > fileSize - 8) {
            throw new SafetensorsFormatException(source + ": header length " + n + " exceeds the " + (fileSize - 8)
                    + " bytes that follow the length field (file size " + fileSize + ")");
        }
        ByteBuffer header = ByteBuffer.allocate((int) n);
        readFully(channel, header, 8, source);
        return parse(header.array(), fileSize - 8 - n, source);
    }

    /**
     * A hint when the length field is text, as when a config.json or an index.json is given where a safetensors file
     * belongs (the length field of a real header is a small integer: its high bytes are 0).
     */
    private static String textHint(ByteBuffer prefix) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            int b = prefix.get(i) & 0xff;
            if (b >= 0x7f || (b < 0x20 && b != '\n' && b != '\r' && b != '\t')) {
                return "";
            }
            text.append(b < 0x20 ? ' ' : (char) b);
        }
        return "; the file starts with text (\"" + text + "\"), so it is probably not a safetensors file";
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position, String source)
            throws IOException {
        while (buffer.hasRemaining()) {
            int read = channel.read(buffer, position + buffer.position());
            if (read < 0) {
                throw new SafetensorsFormatException(source + ": file ended while reading the header (truncated while open?)");
            }
        }
    }

    /**
     * Parses and validates header JSON bytes (without the length field) for a data section of
     * {@code dataLength} bytes.
     */
    static SafetensorsHeader parse(byte[] headerBytes, long dataLength, String source) throws SafetensorsFormatException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsFormatException(source + ": header is not valid UTF-8", e);
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JacksonException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
            throw new SafetensorsFormatException(source + ": header is not valid JSON" + where + ": " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new SafetensorsFormatException(source + ": header is not a JSON object but "
                    + (root == null || root.isMissingNode() ? "empty" : kind(root)));
        }

        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String name = field.getKey();
            JsonNode value = field.getValue();
            if (name.equals(METADATA_KEY)) {
                parseMetadata(value, metadata, source);
            } else {
                tensors.add(parseTensor(name, value, dataLength, source));
            }
        }

        tensors.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        requireTiling(tensors, dataLength, source);
        return new SafetensorsHeader(headerBytes.length, tensors, metadata);
    }

    /**
     * The reference implementation's rule: the tensors, sorted by offset, tile the data section exactly, with
     * no overlap, no unindexed hole and no trailing bytes. An empty tensor {@code [x, x]} fits wherever one
     * tensor ends and the next begins.
     */
    private static void requireTiling(List<TensorInfo> sorted, long dataLength, String source) throws SafetensorsFormatException {
        long covered = 0;
        TensorInfo previous = null;
        for (TensorInfo current : sorted) {
            if (current.begin() < covered) {
                throw new SafetensorsFormatException(source + ": tensors '" + previous.name() + "' [" + previous.begin() + ", "
                        + previous.end() + ") and '" + current.name() + "' [" + current.begin() + ", " + current.end()
                        + ") overlap in the data section");
            }
            if (current.begin() > covered) {
                String where = previous == null ? "before '" + current.name() + "'"
                        : "between '" + previous.name() + "' and '" + current.name() + "'";
                throw new SafetensorsFormatException(source + ": bytes [" + covered + ", " + current.begin() + ") " + where
                        + " are not indexed by any tensor");
            }
            covered = current.end();
            previous = current;
        }
        if (covered < dataLength) {
            String where = previous == null ? "after the header, which indexes no tensor"
                    : "after the last tensor '" + previous.name() + "' are not indexed by any tensor";
            throw new SafetensorsFormatException(source + ": " + (dataLength - covered) + " trailing bytes [" + covered + ", "
                    + dataLength + ") " + where);
        }
    }

    private static void parseMetadata(JsonNode value, Map<String, String> out, String source) throws SafetensorsFormatException {
        if (value.isNull()) {
            return; // as the reference implementation: "__metadata__": null means no metadata
        }
        if (!value.isObject()) {
            throw new SafetensorsFormatException(source + ": " + METADATA_KEY + " is not an object of strings but "
                    + kind(value));
        }
        for (Map.Entry<String, JsonNode> entry : value.properties()) {
            if (!entry.getValue().isTextual()) {
                throw new SafetensorsFormatException(source + ": " + METADATA_KEY + " value of '" + entry.getKey()
                        + "' is not a string but " + kind(entry.getValue()));
            }
            out.put(entry.getKey(), entry.getValue().textValue());
        }
    }

    private static TensorInfo parseTensor(String name, JsonNode entry, long dataLength, String source)
            throws SafetensorsFormatException {
        String where = source + ": tensor '" + name + "'";
        if (!entry.isObject()) {
            throw new SafetensorsFormatException(where + ": entry is not an object but " + kind(entry));
        }
        JsonNode dtypeNode = required(entry, "dtype", where);
        if (!dtypeNode.isTextual()) {
            throw new SafetensorsFormatException(where + ": dtype is not a string but " + kind(dtypeNode));
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensors(dtypeNode.textValue(), name);
        } catch (IllegalArgumentException e) {
            throw new SafetensorsFormatException(source + ": " + e.getMessage(), e);
        }

        JsonNode shapeNode = required(entry, "shape", where);
        if (!shapeNode.isArray()) {
            throw new SafetensorsFormatException(where + ": shape is not an array but " + kind(shapeNode));
        }
        if (shapeNode.size() > MAX_DIMS) {
            throw new SafetensorsFormatException(where + ": shape has " + shapeNode.size() + " dims; at most " + MAX_DIMS
                    + " are supported");
        }
        long[] shape = new long[shapeNode.size()];
        for (int d = 0; d < shape.length; d++) {
            JsonNode dim = shapeNode.get(d);
            if (!dim.isIntegralNumber() || !dim.canConvertToLong()) {
                throw new SafetensorsFormatException(where + ": shape has a dim that is not a 64-bit integer: "
                        + kind(dim));
            }
            shape[d] = dim.longValue();
            if (shape[d] < 0) {
                throw new SafetensorsFormatException(where + ": shape has a negative dim " + shape[d]);
            }
        }
        long bytes;
        try {
            long numel = 1;
            for (long s : shape) {
                numel = Math.multiplyExact(numel, s);
            }
            bytes = Math.multiplyExact(numel, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new SafetensorsFormatException(where + ": shape " + shapeNode + " overflows: its size does not fit in 64 bits");
        }

        JsonNode offsets = required(entry, "data_offsets", where);
        if (!offsets.isArray() || offsets.size() != 2) {
            throw new SafetensorsFormatException(where + ": data_offsets is not an array of two integers but " + kind(offsets));
        }
        long[] range = new long[2];
        for (int i = 0; i < 2; i++) {
            JsonNode offset = offsets.get(i);
            if (!offset.isIntegralNumber() || !offset.canConvertToLong() || offset.longValue() < 0) {
                throw new SafetensorsFormatException(where + ": data_offsets are not two non-negative 64-bit integers: "
                        + kind(offsets));
            }
            range[i] = offset.longValue();
        }
        long begin = range[0];
        long end = range[1];
        if (begin > end) {
            throw new SafetensorsFormatException(where + ": data_offsets " + offsets + " begin after they end");
        }
        if (end > dataLength) {
            throw new SafetensorsFormatException(where + ": data_offsets " + offsets + " end beyond the data section, which is "
                    + dataLength + " bytes");
        }
        if (end - begin != bytes) {
            throw new SafetensorsFormatException(where + ": data_offsets " + offsets + " span " + (end - begin)
                    + " bytes but " + dtype.safetensorsName() + shapeNode + " needs " + bytes);
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static JsonNode required(JsonNode entry, String key, String where) throws SafetensorsFormatException {
        JsonNode node = entry.get(key);
        if (node == null) {
            throw new SafetensorsFormatException(where + ": missing '" + key + "'");
        }
        return node;
    }

    private static String kind(JsonNode node) {
        String json = node.toString();
        return node.getNodeType().toString().toLowerCase(Locale.ROOT) + " "
                + (json.length() > 40 ? json.substring(0, 40) + "..." : json);
    }
}
