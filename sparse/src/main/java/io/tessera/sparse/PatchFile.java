package io.tessera.sparse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.luben.zstd.ZstdException;
import com.github.luben.zstd.ZstdInputStream;
import com.github.luben.zstd.ZstdOutputStream;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.io.SafetensorsFormatException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The patch file format (DESIGN.md "Formats"): a safetensors file holding, per touched tensor,
 * {@code <name>.indices} (int32 or int64) and {@code <name>.values} (the new values, in the base dtype),
 * optionally {@code <name>.base_values} (the values they replace, so that the patch can be reverted without
 * the base model; written on request, as they double the values' size), {@code <name>.fisher} (F32, the
 * contributor's Fisher diagonal at the patched entries, when the patch carries it), and a {@code __metadata__} of
 * <ul>
 *   <li>{@code kind = "patch"}, {@code format_version = "1"};
 *   <li>{@code base_sha256}: the {@link ModelDigest} of the base model; {@code description}: free text;
 *   <li>{@code tensors}: JSON, name -> {@code {"dtype": "F32", "shape": [...], "index_encoding": "absolute" | "delta"}};
 *   <li>{@code content_sha256}: the {@link FileChecksum} of everything else, so any flipped byte is caught.
 * </ul>
 * Index encoding: each list is stored at the narrowest width (int32, else int64) that holds its largest
 * stored value. Delta encoding (the first index, then the gaps) is used when it allows a narrower width,
 * and in compressed files always: small gaps compress better (PatchSizeAcceptanceTest's 0.5% patch of a
 * 10M-parameter model: 252 KB with delta indices, 298 KB with absolute ones).
 *
 * <p>With {@link Compression#ZSTD} the whole file is one zstd frame (level {@value #ZSTD_LEVEL}, window at
 * most 2^{@value #ZSTD_WINDOW_LOG} bytes, with zstd's content checksum); readers detect it by its magic
 * bytes and refuse larger windows, so a hostile frame cannot make them allocate more than that.
 * Writes are atomic (temporary file, fsync, rename). Reading validates everything and throws
 * {@link SafetensorsFormatException} (or its subclass {@link SparseFormatException}) naming the file and
 * tensor; it allocates in proportion to the (decompressed) file, never to sizes the file merely claims.
 */
final class PatchFile {
    static final String KIND = "patch";
    static final String VERSION = "1";
    static final String BASE_SHA256 = "base_sha256";
    static final String DESCRIPTION = "description";
    static final long DEFAULT_MAX_DECOMPRESSED_BYTES = 4L << 30;
    static final int ZSTD_LEVEL = 19;
    static final int ZSTD_WINDOW_LOG = 23;
    private static final int ZSTD_MAGIC = 0xFD2FB528;
    private static final String INDICES = ".indices";
    private static final String VALUES = ".values";
    private static final String BASE_VALUES = ".base_values";
    private static final String FISHER = ".fisher";

    private PatchFile() {}

    static void write(Path file, Patch patch, Compression compression, boolean withBaseValues) throws IOException {
        if (withBaseValues && !patch.hasBaseValues()) {
            throw new IllegalStateException("patch '" + patch.description() + "' does not carry base values to save;"
                    + " get them with withBaseValues(base)");
        }
        boolean compressed = compression == Compression.ZSTD;
        if (!compressed) {
            writeSafetensors(file, patch, false, withBaseValues);
            return;
        }
        Path raw = Files.createTempFile(file.toAbsolutePath().getParent(), "." + file.getFileName(), ".raw");
        try {
            writeSafetensors(raw, patch, true, withBaseValues);
            AtomicFiles.writeStream(file, out -> {
                try (OutputStream z = new ZstdOutputStream(out).setLevel(ZSTD_LEVEL).setWindowLog(ZSTD_WINDOW_LOG)
                        .setChecksum(true)) {
                    Files.copy(raw, z);
                }
            });
        } finally {
            Files.deleteIfExists(raw);
        }
    }

    private static void writeSafetensors(Path file, Patch patch, boolean compressed, boolean withBaseValues) throws IOException {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            ObjectNode described = FileMetadata.JSON.createObjectNode();
            for (Map.Entry<String, TensorPatch> e : patch.tensors().entrySet()) {
                TensorPatch t = e.getValue();
                long[] indices = t.rawIndices();
                int absoluteWidth = IndexCodec.width(IndexCodec.largestStored(indices, false));
                int deltaWidth = IndexCodec.width(IndexCodec.largestStored(indices, true));
                boolean delta = deltaWidth < absoluteWidth || compressed;
                ObjectNode entry = described.putObject(e.getKey());
                entry.put("dtype", t.dtype().safetensorsName());
                var shape = entry.putArray("shape");
                for (long d : t.shape()) {
                    shape.add(d);
                }
                entry.put("index_encoding", delta ? "delta" : "absolute");
                tensors.put(e.getKey() + INDICES, IndexCodec.encode(indices, delta, delta ? deltaWidth : absoluteWidth));
                tensors.put(e.getKey() + VALUES, Tensor.ofBytes(t.rawValues(), t.dtype(), t.count()));
                if (withBaseValues) {
                    tensors.put(e.getKey() + BASE_VALUES, Tensor.ofBytes(t.rawBaseValues(), t.dtype(), t.count()));
                }
                if (t.hasFisher()) {
                    tensors.put(e.getKey() + FISHER, Tensor.of(t.rawFisher(), t.count()));
                }
            }
            Map<String, String> metadata = FileMetadata.create(KIND, VERSION, described,
                    Map.of(BASE_SHA256, patch.baseDigest(), DESCRIPTION, patch.description()));
            FileMetadata.seal(tensors, metadata);
            Safetensors.write(file, tensors, metadata);
        }
    }

    static Patch read(Path file, long maxDecompressedBytes) throws IOException {
        String source = file.toString();
        if (!startsWithZstdMagic(file)) {
            return parse(file, source);
        }
        Path raw = Files.createTempFile("tessera-patch", ".safetensors");
        try {
            decompress(file, raw, maxDecompressedBytes, source);
            try {
                return parse(raw, source);
            } catch (SafetensorsFormatException e) {
                String message = e.getMessage().replace(raw.toString(), source + " (decompressed)");
                throw e instanceof SparseFormatException ? e : new SparseFormatException(message, e);
            }
        } finally {
            Files.deleteIfExists(raw);
        }
    }

    /** A zstd stream (models are never compressed) or safetensors whose metadata says kind 'patch'. */
    static boolean isPatch(Path file) throws IOException {
        if (startsWithZstdMagic(file)) {
            return true;
        }
        try (SafetensorsFile f = Safetensors.read(file)) {
            return KIND.equals(f.metadata().get(FileMetadata.KIND));
        }
    }

    private static boolean startsWithZstdMagic(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            while (head.hasRemaining() && channel.read(head) >= 0) {
                // read up to 4 bytes; a shorter file is not zstd (and is rejected as safetensors)
            }
            return !head.hasRemaining() && head.getInt(0) == ZSTD_MAGIC;
        }
    }

    private static void decompress(Path file, Path raw, long maxBytes, String source) throws IOException {
        try (InputStream in = new ZstdInputStream(new BufferedInputStream(Files.newInputStream(file))).setLongMax(ZSTD_WINDOW_LOG);
             OutputStream out = Files.newOutputStream(raw)) {
            byte[] buffer = new byte[1 << 16];
            long total = 0;
            while (true) {
                int n;
                try {
                    n = in.read(buffer);
                } catch (IOException | ZstdException e) {
                    throw new SparseFormatException(source + ": not a valid zstd stream (" + e.getMessage() + ")", e);
                }
                if (n < 0) {
                    return;
                }
                total += n;
                if (total > maxBytes) {
                    throw new SparseFormatException(source + ": decompresses to more than the limit of " + maxBytes + " bytes");
                }
                out.write(buffer, 0, n);
            }
        }
    }

    private static Patch parse(Path file, String source) throws IOException {
        try (SafetensorsFile f = Safetensors.read(file)) {
            Map<String, String> metadata = f.metadata();
            Map<String, JsonNode> described = FileMetadata.open(f.tensors(), metadata, KIND, VERSION, source);
            String base = FileMetadata.require(metadata, BASE_SHA256, source);
            if (!base.matches("[0-9a-f]{64}")) {
                throw new SparseFormatException(source + ": " + BASE_SHA256 + " '" + base + "' is not 64 lower-case hex digits");
            }
            String description = FileMetadata.require(metadata, DESCRIPTION, source);
            for (String fileName : f.tensors().keySet()) {
                String suffix = Stream.of(INDICES, VALUES, BASE_VALUES, FISHER).filter(fileName::endsWith).findFirst().orElse(null);
                String name = suffix == null ? null : fileName.substring(0, fileName.length() - suffix.length());
                if (name == null || !described.containsKey(name)) {
                    throw new SparseFormatException(source + ": unexpected tensor '" + fileName + "' (a patch file holds"
                            + " <name>.indices, <name>.values and optionally <name>.base_values and <name>.fisher for each tensor"
                            + " described in"
                            + " metadata '" + FileMetadata.TENSORS + "')");
                }
            }
            Map<String, TensorPatch> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : described.entrySet()) {
                tensors.put(e.getKey(), readTensor(f, e.getKey(), e.getValue(), source));
            }
            return new Patch(base, description, tensors);
        }
    }

    private static TensorPatch readTensor(SafetensorsFile f, String name, JsonNode entry, String source)
            throws SparseFormatException {
        String where = source + ": tensor '" + name + "'";
        Tensor indexData = f.tensors().get(name + INDICES);
        Tensor valueData = f.tensors().get(name + VALUES);
        if (indexData == null || valueData == null) {
            throw new SparseFormatException(where + ": needs both " + name + INDICES + " and " + name + VALUES);
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensors(FileMetadata.text(entry, "dtype", name, source), name);
        } catch (IllegalArgumentException e) {
            throw new SparseFormatException(source + ": " + e.getMessage(), e);
        }
        long[] shape = FileMetadata.shape(entry, name, source);
        String encoding = FileMetadata.text(entry, "index_encoding", name, source);
        if (!encoding.equals("delta") && !encoding.equals("absolute")) {
            throw new SparseFormatException(where + ": index_encoding '" + encoding + "' is neither 'absolute' nor 'delta'");
        }
        long[] indices = IndexCodec.decode(indexData, encoding.equals("delta"), HostTensors.numel(shape, where), where);
        if (valueData.dtype() != dtype || valueData.rank() != 1 || valueData.numel() != indices.length) {
            throw new SparseFormatException(where + ": values must be " + dtype + "[" + indices.length + "] (the declared dtype,"
                    + " one per index), not " + valueData.describe());
        }
        byte[] values = HostTensors.bytes(valueData, where).toArray(ValueLayout.JAVA_BYTE);
        Tensor baseData = f.tensors().get(name + BASE_VALUES);
        if (baseData != null && (baseData.dtype() != dtype || baseData.rank() != 1 || baseData.numel() != indices.length)) {
            throw new SparseFormatException(where + ": base values must be " + dtype + "[" + indices.length + "] (as the values),"
                    + " not " + baseData.describe());
        }
        byte[] baseValues = baseData == null ? null : HostTensors.bytes(baseData, where).toArray(ValueLayout.JAVA_BYTE);
        Tensor fisherData = f.tensors().get(name + FISHER);
        if (fisherData != null && (fisherData.dtype() != DType.F32 || fisherData.rank() != 1 || fisherData.numel() != indices.length)) {
            throw new SparseFormatException(where + ": Fisher values must be F32[" + indices.length + "] (one per index), not "
                    + fisherData.describe());
        }
        float[] fisher = fisherData == null ? null : HostTensors.bytes(fisherData, where).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED
                .withOrder(ByteOrder.LITTLE_ENDIAN));
        try {
            return new TensorPatch(dtype, shape, indices, values, baseValues, fisher);
        } catch (IllegalArgumentException e) {
            throw new SparseFormatException(where + ": " + e.getMessage(), e);
        }
    }
}
