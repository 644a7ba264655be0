package io.tessera.cli;

import io.tessera.engine.Tensor;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.pipeline.models.HfCheckpointWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model as the patch commands see it: one safetensors file, or a Hugging Face directory whose safetensors files
 * (shards) together hold its tensors. Read as one map of every tensor by name; written back in the same layout.
 */
final class Checkpoint implements AutoCloseable {
    private final Path path;
    private final List<SafetensorsFile> files;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();

    private Checkpoint(Path path, List<SafetensorsFile> files) {
        this.path = path;
        this.files = files;
    }

    /** Checks that {@code path} can be read as a model before anything else is done. */
    static void requireReadable(Path path) throws IOException {
        if (!Files.isDirectory(path)) {
            InputFiles.requireFile(path);
        }
    }

    /** Checks that {@code out} can be written as the same kind of model as {@code like}. */
    static void requireWritable(Path like, Path out) throws IOException {
        if (!Files.isDirectory(like)) {
            AtomicFiles.requireWritable(out);
        } else if (Files.exists(out)) {
            throw new IllegalArgumentException(out + " already exists; choose a new directory for the model");
        }
    }

    static Checkpoint read(Path path) throws IOException {
        requireReadable(path);
        List<SafetensorsFile> files = new ArrayList<>();
        Checkpoint checkpoint = new Checkpoint(path, files);
        try {
            List<Path> parts = List.of(path);
            if (Files.isDirectory(path)) {
                try (var listing = Files.list(path)) {
                    parts = listing.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().toList();
                }
                if (parts.isEmpty()) {
                    throw new IllegalArgumentException(path + " holds no .safetensors file");
                }
            }
            for (Path part : parts) {
                SafetensorsFile file = Safetensors.read(part);
                files.add(file);
                for (var entry : file.tensors().entrySet()) {
                    if (checkpoint.tensors.put(entry.getKey(), entry.getValue()) != null) {
                        throw new IllegalArgumentException(path + ": tensor " + entry.getKey() + " is in more than one file");
                    }
                }
            }
            return checkpoint;
        } catch (IOException | RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    Map<String, Tensor> tensors() {
        return Collections.unmodifiableMap(tensors);
    }

    /** Writes {@code values} (this model's names, dtypes and shapes) to {@code out} in this model's layout and metadata. */
    void writeLike(Path out, Map<String, Tensor> values) throws IOException {
        if (Files.isDirectory(path)) {
            HfCheckpointWriter.copyWith(path, out, (name, stored) -> values.get(name));
        } else {
            Safetensors.write(out, values, files.get(0).metadata());
        }
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
