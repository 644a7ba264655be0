package io.tessera.engine.io;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.SafetensorsHeader.TensorInfo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileChannel.MapMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * Reads and writes safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON mapping each tensor name to {@code dtype}, {@code shape} and
 * {@code data_offsets} (plus an optional {@code __metadata__} object of strings), then the little-endian,
 * row-major tensor data.
 *
 * <pre>{@code
 * try (SafetensorsFile f = Safetensors.read(path)) {        // zero-copy, read-only views of a mapping
 *     model.loadStateDict(f.tensors(), true);               // copies into the parameters
 * }
 * Safetensors.write(path, model.stateDict(), Map.of("step", "1000"));   // atomic replace
 * }</pre>
 */
public final class Safetensors {
    /** Headers longer than this are rejected before anything is allocated (the reference implementation's limit). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /** Bytes handed to the file channel per write call when writing native memory. */
    private static final long WRITE_CHUNK = 64L << 20;

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private Safetensors() {}

    /** {@link #read(Path, boolean) read(file, false)}: zero-copy where the data is aligned. */
    public static SafetensorsFile read(Path file) throws IOException {
        return read(file, false);
    }

    /**
     * Reads a safetensors file. The file is memory-mapped read-only; with {@code copy == false}, each tensor
     * whose data is aligned to its element size (always so for files written by this class or by the
     * reference writer) is a zero-copy, read-only view of the mapping, and the others are copied into
     * ordinary allocations. With {@code copy == true} every tensor is copied (writable, 64-byte aligned) and
     * the mapping is released before returning. The returned object owns the tensors; see
     * {@link SafetensorsFile} for their lifetime, and for why zero-copy tensors must only be read.
     *
     * @throws SafetensorsFormatException if the file is malformed (the message names the file and tensor)
     * @throws java.io.FileNotFoundException if there is no such file, or it is a directory
     * @throws IOException if the file cannot be read
     */
    public static SafetensorsFile read(Path file, boolean copy) throws IOException {
        InputFiles.requireFile(file);
        String source = file.toString();
        Arena arena = Arena.ofShared();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        boolean done = false;
        try {
            SafetensorsHeader header;
            MemorySegment mapped;
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = channel.size();
                header = SafetensorsHeader.read(channel, size, source);
                mapped = channel.map(MapMode.READ_ONLY, 0, size, arena);
            }
            boolean viewed = false;
            for (TensorInfo info : header.tensors()) {
                MemorySegment bytes = mapped.asSlice(header.dataStart() + info.begin(), info.byteSize());
                if (!copy && bytes.address() % info.dtype().byteSize() == 0) {
                    tensors.put(info.name(), Tensor.over(HostStorage.wrap(bytes, arena), info.dtype(), info.shape()));
                    viewed = true;
                } else {
                    Tensor t = Tensor.empty(info.dtype(), info.shape());
                    tensors.put(info.name(), t);
                    MemorySegment.copy(bytes, 0, ((HostStorage) t.storage()).segment(), 0, info.byteSize());
                }
            }
            if (!viewed) {
                arena.close();
                mapped = null;
            }
            done = true;
            return new SafetensorsFile(file, tensors, header.metadata(), viewed ? arena : null, mapped);
        } finally {
            if (!done) {
                tensors.values().forEach(Tensor::close);
                if (arena.scope().isAlive()) {
                    arena.close();
                }
            }
        }
    }

    /** {@link #write(Path, Map, Map)} without metadata. */
    public static void write(Path file, Map<String, Tensor> tensors) throws IOException {
        write(file, tensors, Map.of());
    }

    /**
     * Writes {@code tensors} (any strides; written as their row-major values) and {@code metadata} (may be
     * null or empty) to {@code file}, atomically: the data goes to a temporary file in the same directory,
     * which is fsynced and then renamed over {@code file}, and the directory is fsynced. On any failure the
     * temporary file is deleted and an existing {@code file} is left as it was. Tensors read zero-copy from
     * {@code file} itself stay valid: they view the old file's mapping, which outlives the rename.
     *
     * <p>The layout is the reference writer's, byte for byte: {@code __metadata__} first (keys sorted), then
     * tensors ordered by descending dtype alignment and then by name, the header padded with spaces to a
     * multiple of 8 bytes. So every tensor's data is aligned to its element size and reads back zero-copy.
     *
     * @throws IllegalArgumentException for a null or reserved ({@code __metadata__}) name, a null tensor or
     *         null metadata entry, or a header that would exceed {@link #MAX_HEADER_BYTES}
     * @throws IllegalStateException if a tensor is closed (detected when its data is due to be written)
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        write(file, tensors, metadata, written -> {});
    }

    /**
     * {@link #write(Path, Map, Map)}, with {@code check} run on the written temporary file (e.g. read back and
     * evaluated) before it replaces {@code file}: if the check throws, {@code file} is left as it was.
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata, AtomicFiles.Check check)
            throws IOException {
        Objects.requireNonNull(tensors, "tensors");
        Map<String, Pending> pending = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            if (e.getKey() == null || e.getValue() == null) {
                throw new IllegalArgumentException("cannot write a null tensor name or tensor (name " + e.getKey() + ")");
            }
            Tensor t = e.getValue();
            pending.put(e.getKey(), new Pending(t.dtype(), t.shape(), () -> t));
        }
        writeEntries(file, pending, metadata, false, check);
    }

    /** A tensor declared for {@link #writeStreaming}: dtype and shape for the header, values produced when due. */
    public record Pending(DType dtype, long[] shape, Supplier<Tensor> values) {}

    /**
     * {@link #write(Path, Map, Map)} one tensor at a time, so the file may be larger than memory (e.g. the
     * merge of memory-mapped models): each tensor's values are produced inside a {@link TensorScope} of
     * their own when their turn comes, written, and freed with everything the producer allocated, before the
     * next is produced. Same layout and atomicity as {@code write}.
     *
     * @throws IllegalStateException if a produced tensor's dtype or shape differs from its declaration
     */
    public static void writeStreaming(Path file, Map<String, Pending> tensors, Map<String, String> metadata) throws IOException {
        writeEntries(file, tensors, metadata, true, written -> {});
    }

    /** {@link #writeStreaming(Path, Map, Map)}, with {@code check} run on the written temporary file before it replaces {@code file}. */
    public static void writeStreaming(Path file, Map<String, Pending> tensors, Map<String, String> metadata, AtomicFiles.Check check)
            throws IOException {
        writeEntries(file, tensors, metadata, true, check);
    }

    private static void writeEntries(Path file, Map<String, Pending> tensors, Map<String, String> metadata, boolean scoped,
                                     AtomicFiles.Check check) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tensors, "tensors");
        List<Map.Entry<String, Pending>> order = new ArrayList<>(tensors.size());
        for (Map.Entry<String, Pending> e : tensors.entrySet()) {
            if (e.getKey() == null || e.getValue() == null) {
                throw new IllegalArgumentException("cannot write a null tensor name or tensor (name " + e.getKey() + ")");
            }
            if (e.getKey().equals("__metadata__")) {
                throw new IllegalArgumentException("'__metadata__' is reserved and cannot name a tensor");
            }
            order.add(Map.entry(e.getKey(), e.getValue()));
        }
        order.sort(Comparator.<Map.Entry<String, Pending>>comparingInt(e -> -alignmentRank(e.getValue().dtype()))
                .thenComparing(e -> e.getKey().getBytes(StandardCharsets.UTF_8), Arrays::compareUnsigned));

        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            for (Map.Entry<String, String> e : new TreeMap<>(metadata).entrySet()) {
                if (e.getValue() == null) {
                    throw new IllegalArgumentException("metadata value of '" + e.getKey() + "' is null");
                }
                meta.put(e.getKey(), e.getValue());
            }
        }
        long offset = 0;
        for (Map.Entry<String, Pending> e : order) {
            Pending t = e.getValue();
            long bytes = Math.multiplyExact(Arrays.stream(t.shape()).reduce(1, Math::multiplyExact), (long) t.dtype().byteSize());
            ObjectNode entry = root.putObject(e.getKey());
            entry.put("dtype", t.dtype().safetensorsName());
            ArrayNode shape = entry.putArray("shape");
            for (long s : t.shape()) {
                shape.add(s);
            }
            entry.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(root);
        int padded = (json.length + 7) / 8 * 8;
        if (padded > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("the header of " + order.size() + " tensors would be " + padded
                    + " bytes, over the " + MAX_HEADER_BYTES + "-byte limit that readers enforce");
        }
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();

        AtomicFiles.write(file, out -> {
            writeFully(out, head);
            for (Map.Entry<String, Pending> e : order) {
                if (!scoped) {
                    writeData(out, e.getKey(), e.getValue().values().get());
                    continue;
                }
                try (TensorScope scope = TensorScope.open()) {
                    Tensor t = e.getValue().values().get();
                    if (t.dtype() != e.getValue().dtype() || !Arrays.equals(t.shape(), e.getValue().shape())) {
                        throw new IllegalStateException("tensor '" + e.getKey() + "' was declared " + e.getValue().dtype()
                                + Arrays.toString(e.getValue().shape()) + " but produced as " + t.describe());
                    }
                    writeData(out, e.getKey(), t);
                }
            }
        }, check);
    }

    /** The reference writer's dtype order (its Dtype enum order: larger alignment ranks higher). */
    private static int alignmentRank(DType dtype) {
        return switch (dtype) {
            case BOOL -> 0;
            case U8 -> 1;
            case I8 -> 2;
            case I16 -> 5;
            case U16 -> 6;
            case F16 -> 7;
            case BF16 -> 8;
            case I32 -> 9;
            case U32 -> 10;
            case F32 -> 11;
            case F64 -> 12;
            case I64 -> 13;
            case U64 -> 14;
        };
    }

    private static void writeData(FileChannel out, String name, Tensor t) throws IOException {
        if (t.isClosed()) {
            throw new IllegalStateException("cannot write tensor '" + name + "' (" + t.describe() + "): it is closed");
        }
        long bytes = t.numel() * t.dtype().byteSize();
        if (bytes == 0) {
            return;
        }
        if (t.storage() instanceof HostStorage) {
            Tensor c = t.isContiguous() ? t : t.detach().contiguous();
            try {
                MemorySegment data = ((HostStorage) c.storage()).segment().asSlice(c.offset() * c.dtype().byteSize(), bytes);
                for (long pos = 0; pos < bytes; pos += WRITE_CHUNK) {
                    writeFully(out, data.asSlice(pos, Math.min(WRITE_CHUNK, bytes - pos)).asByteBuffer());
                }
            } finally {
                if (c != t) {
                    c.close();
                }
            }
        } else {
            writeFully(out, ByteBuffer.wrap(t.toByteArray())); // device memory: through the host
        }
    }

    private static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            out.write(buffer);
        }
    }

    /** Makes the rename durable. Platforms that cannot open a directory (not Linux) are skipped. */
}
