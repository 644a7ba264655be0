package io.tessera.sparse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/** Reads and writes {@link SparseMask} files (the format is described there). */
final class MaskFile {
    static final String KIND = "sparse-mask";
    static final String VERSION = "1";
    private static final String INDICES = ".indices";
    private static final String BITMAP = ".bitmap";

    private MaskFile() {}

    static void write(Path file, SparseMask mask) throws IOException {
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            ObjectNode described = FileMetadata.JSON.createObjectNode();
            for (Map.Entry<String, TensorMask> e : mask.tensors().entrySet()) {
                TensorMask m = e.getValue();
                var shape = described.putObject(e.getKey()).putArray("shape");
                for (long d : m.shape()) {
                    shape.add(d);
                }
                if (m.isBitmap()) {
                    byte[] bits = m.packedBits();
                    tensors.put(e.getKey() + BITMAP, Tensor.ofBytes(bits, DType.U8, bits.length));
                } else {
                    tensors.put(e.getKey() + INDICES, IndexCodec.encode(m.indices(), false, TensorMask.indexWidth(m.numel())));
                }
            }
            Map<String, String> metadata = FileMetadata.create(KIND, VERSION, described, Map.of());
            FileMetadata.seal(tensors, metadata);
            Safetensors.write(file, tensors, metadata);
        }
    }

    static SparseMask read(Path file) throws IOException {
        String source = file.toString();
        try (SafetensorsFile f = Safetensors.read(file)) {
            Map<String, JsonNode> described = FileMetadata.open(f.tensors(), f.metadata(), KIND, VERSION, source);
            Map<String, TensorMask> masks = new TreeMap<>();
            for (Map.Entry<String, Tensor> e : f.tensors().entrySet()) {
                String fileName = e.getKey();
                boolean bitmap = fileName.endsWith(BITMAP);
                if (!bitmap && !fileName.endsWith(INDICES)) {
                    throw new SparseFormatException(source + ": unexpected tensor '" + fileName + "' (a mask file holds only"
                            + " <name>.indices and <name>.bitmap tensors)");
                }
                String name = fileName.substring(0, fileName.length() - (bitmap ? BITMAP : INDICES).length());
                JsonNode entry = described.get(name);
                if (entry == null) {
                    throw new SparseFormatException(source + ": tensor '" + fileName + "' is not described in metadata '"
                            + FileMetadata.TENSORS + "'");
                }
                if (masks.containsKey(name)) {
                    throw new SparseFormatException(source + ": tensor '" + name + "' has both an index list and a bitmap");
                }
                masks.put(name, readOne(e.getValue(), bitmap, FileMetadata.shape(entry, name, source),
                        source + ": tensor '" + name + "'"));
            }
            for (String name : described.keySet()) {
                if (!masks.containsKey(name)) {
                    throw new SparseFormatException(source + ": tensor '" + name + "' is described in metadata but has no "
                            + INDICES + " or " + BITMAP + " data");
                }
            }
            return SparseMask.of(masks);
        }
    }

    private static TensorMask readOne(Tensor data, boolean bitmap, long[] shape, String where) throws SparseFormatException {
        try {
            if (!bitmap) {
                return TensorMask.ofIndices(shape, IndexCodec.decode(data, false, HostTensors.numel(shape, where), where));
            }
            if (data.dtype() != DType.U8 || data.rank() != 1) {
                throw new SparseFormatException(where + ": a bitmap must be a 1-D u8 tensor, not " + data.describe());
            }
            return TensorMask.ofBitmap(shape, HostTensors.bytes(data, where).toArray(ValueLayout.JAVA_BYTE));
        } catch (IllegalArgumentException e) {
            throw new SparseFormatException(where + ": " + e.getMessage(), e);
        }
    }
}
