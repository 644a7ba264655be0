package io.tessera.cli;

import io.tessera.engine.Tensor;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.io.StoredModel;
import io.tessera.pipeline.Int8StoredModel;
import io.tessera.pipeline.models.HfCheckpointWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A model as the patch commands see it: one safetensors file, or a Hugging Face directory whose safetensors files
 * (shards) together hold its tensors. Read as one map of every tensor by name, as floats where a file stores them
 * otherwise (int8 codes with scales, decoded one tensor at a time: {@link Int8StoredModel}); written back in the same
 * layout and stored form, tensor by tensor.
 */
final class Checkpoint implements AutoCloseable {
    private final Path path;
    private final List<SafetensorsFile> files = new ArrayList<>();
    private final List<StoredModel> stored = new ArrayList<>();
    /** Each tensor's file, by name. */
    private final Map<String, Integer> fileOf = new LinkedHashMap<>();

    private Checkpoint(Path path) {
        this.path = path;
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
        Checkpoint checkpoint = new Checkpoint(path);
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
                checkpoint.files.add(file);
                StoredModel model = Int8StoredModel.READER.open(file);
                checkpoint.stored.add(model);
                for (String name : model.tensors().keySet()) {
                    if (checkpoint.fileOf.put(name, checkpoint.stored.size() - 1) != null) {
                        throw new IllegalArgumentException(path + ": tensor " + name + " is in more than one file");
                    }
                }
            }
            return checkpoint;
        } catch (IOException | RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    /**
     * Every tensor by name, as floats where the file stores them otherwise: a decoded tensor stays valid until another
     * tensor of its file is read ({@link StoredModel#tensors}).
     */
    Map<String, Tensor> tensors() {
        return new AbstractMap<>() {
            @Override
            public Tensor get(Object name) {
                Integer file = fileOf.get(name);
                return file == null ? null : stored.get(file).tensors().get(name);
            }

            @Override
            public boolean containsKey(Object name) {
                return fileOf.containsKey(name);
            }

            @Override
            public Set<Entry<String, Tensor>> entrySet() {
                // entries in file order, each value read when asked for (one decoded tensor per file at a time)
                List<Entry<String, Tensor>> entries = new ArrayList<>();
                for (StoredModel model : stored) {
                    entries.addAll(model.tensors().entrySet());
                }
                return new AbstractSet<>() {
                    @Override
                    public Iterator<Entry<String, Tensor>> iterator() {
                        return entries.iterator();
                    }

                    @Override
                    public int size() {
                        return entries.size();
                    }
                };
            }
        };
    }

    /** Whether every file stores its tensors plainly (no int8 codes). */
    boolean plain() {
        return stored.stream().allMatch(m -> m.form().isEmpty());
    }

    /**
     * Writes this model to {@code out} in its layout, metadata and stored form, with the tensors {@code changed} holding
     * {@code values.apply(name)} (of this model's float dtypes and shapes, computed when written; an int8 weight keeps
     * the codes and scale of every row that did not change) and every other tensor as stored, bit for bit; {@code check}
     * runs on the written file or directory before it appears.
     */
    void writeLike(Path out, Set<String> changed, Function<String, Tensor> values, AtomicFiles.Check check) throws IOException {
        List<Map<String, Safetensors.Pending>> perFile = new ArrayList<>();
        for (int i = 0; i < files.size(); i++) {
            perFile.add(new LinkedHashMap<>());
        }
        fileOf.forEach((name, i) -> {
            StoredModel model = stored.get(i);
            perFile.get(i).putAll(changed.contains(name)
                    ? model.store(name, files.get(i).tensor(name).dtype(), () -> values.apply(name), StoredModel.Rows.KEEP_UNCHANGED)
                    : model.unchanged(name));
        });
        if (!Files.isDirectory(path)) {
            Safetensors.writeStreaming(out, perFile.get(0), files.get(0).metadata(), check);
            return;
        }
        Map<String, Safetensors.Pending> byName = new LinkedHashMap<>();
        perFile.forEach(byName::putAll);
        HfCheckpointWriter.copyWith(path, out, (name, t) -> byName.get(name).values().get(), check);
    }

    @Override
    public void close() {
        stored.forEach(StoredModel::close);
        files.forEach(SafetensorsFile::close);
    }
}
