package io.tessera.engine.io;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.ffi.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * The tensors and metadata of a safetensors file read by {@link Safetensors#read}. This object owns the
 * tensors: {@link #close()} frees every one of them and unmaps the file. To keep values beyond it, copy
 * them (e.g. {@code Module.loadStateDict} copies into the module's parameters).
 *
 * <p>Zero-copy tensors (the default when the data is aligned) are read-only views of one shared memory
 * mapping of the file: closing <em>any one</em> of them unmaps the file and so closes all of them, and
 * later use of any of them throws {@link IllegalStateException}. Use them as inputs only: a Java write
 * into the read-only mapping throws, but a native kernel that writes into one (an {@code InPlace} op with
 * a mapped tensor as its output) faults, unless the backend checks {@code segment().isReadOnly()} first.
 * Read with {@code copy = true} to get ordinary writable, 64-byte aligned tensors, e.g. weights that will
 * be trained in place. As with any memory mapping, truncating the file in place while it is mapped makes
 * later reads fault; {@link Safetensors#write} replaces files by rename, which is safe.
 *
 * <p>When {@link Safetensors#read} runs inside a {@code TensorScope}, closing the scope frees these
 * tensors too.
 */
public final class SafetensorsFile implements AutoCloseable {
    private final Path path;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;
    private final Arena mapping;
    private final MemorySegment mapped;

    SafetensorsFile(Path path, Map<String, Tensor> tensors, Map<String, String> metadata, Arena mapping, MemorySegment mapped) {
        this.path = path;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = metadata;
        this.mapping = mapping;
        this.mapped = mapped;
    }

    public Path path() {
        return path;
    }

    /** The tensors by name, in the order of their data in the file. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    /** The {@code __metadata__} strings (empty when the file has none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The tensor called {@code name}; throws {@link NoSuchElementException} naming the file when absent. */
    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new NoSuchElementException(path + " has no tensor '" + name + "' (it has " + tensors.size() + " tensors)");
        }
        return t;
    }

    /**
     * Drops from this process the resident pages of the file that hold only {@code t}'s bytes (madvise
     * {@code MADV_DONTNEED} on the whole pages inside them), for a caller that has read {@code t} once and kept a
     * converted copy, e.g. a weight quantized while loading: the mapped file then does not stay resident beside the
     * result. {@code t} stays valid (reading it again reads the file). Nothing happens if {@code t} is not a zero-copy
     * view of this file.
     */
    public void evict(Tensor t) {
        if (mapped == null || !(t.storage() instanceof HostStorage host)) {
            return;
        }
        long start = host.segment().address() + t.offset() * t.dtype().byteSize();
        long end = start + t.numel() * t.dtype().byteSize();
        if (start < mapped.address() || end > mapped.address() + mapped.byteSize()) {
            return;
        }
        long first = (start + PAGE - 1) / PAGE * PAGE;
        long last = end / PAGE * PAGE;
        if (last > first) {
            Libc.madvise(MemorySegment.ofAddress(first).reinterpret(last - first), last - first, Libc.MADV_DONTNEED);
        }
    }

    /** The page size madvise works in (x86-64 Linux). */
    private static final long PAGE = 4096;

    /** The whole-file mapping that zero-copy tensors view, or null when every tensor was copied. */
    MemorySegment mapping() {
        return mapped;
    }

    /** Frees the tensors and unmaps the file; idempotent. Must run on the thread that read the file when
     *  {@link Safetensors#read} ran inside a {@code TensorScope} (whose copies are confined to its thread). */
    @Override
    public void close() {
        RuntimeException failure = null;
        for (Tensor t : tensors.values()) {
            try {
                t.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (mapping != null && mapping.scope().isAlive()) {
            mapping.close();
        }
        if (failure != null) {
            throw failure;
        }
    }
}
