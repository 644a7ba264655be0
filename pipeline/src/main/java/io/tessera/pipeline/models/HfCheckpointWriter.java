package io.tessera.pipeline.models;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.pipeline.QuantizedCheckpoint;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiFunction;

/** Writes a {@link CausalLm} as a Hugging Face model directory that {@link HfCheckpoint#load} (and Hugging Face) reads. */
public final class HfCheckpointWriter {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private HfCheckpointWriter() {}

    /**
     * Writes {@code model} to {@code dir} as Hugging Face would: config.json, and its parameters under
     * Hugging Face's names with {@code __metadata__ {format: pt}}, in one file or in {@code shards} files
     * (model-0000i-of-0000n.safetensors) with an index.
     */
    public static void save(CausalLm model, Path dir, int shards) throws IOException {
        Map<String, Tensor> own = model.stateDict();
        if (shards < 1 || shards > own.size()) {
            throw new IllegalArgumentException("shards must be in [1, " + own.size() + "], got " + shards);
        }
        Files.createDirectories(dir);
        HfConfig.write(model.config(), dir.resolve("config.json"));
        Map<String, String> metadata = Map.of("format", "pt");
        List<Map<String, Tensor>> groups = split(model.config(), own, shards);
        if (shards == 1) {
            Safetensors.write(dir.resolve(HfCheckpoint.SINGLE), groups.get(0), metadata);
            return;
        }
        Map<String, String> weightMap = new TreeMap<>();
        long total = 0;
        for (int i = 0; i < shards; i++) {
            String file = String.format("model-%05d-of-%05d.safetensors", i + 1, shards);
            Safetensors.write(dir.resolve(file), groups.get(i), metadata);
            for (var entry : groups.get(i).entrySet()) {
                weightMap.put(entry.getKey(), file);
                total += entry.getValue().numel() * entry.getValue().dtype().byteSize();
            }
        }
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode map = index.putObject("weight_map");
        weightMap.forEach(map::put);
        byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(index);
        AtomicFiles.writeStream(dir.resolve(HfCheckpoint.INDEX), out -> out.write(bytes));
    }

    /**
     * Writes {@code model} (with int8 layers, e.g. from {@link HfCheckpoint#load(Path, io.tessera.pipeline.QuantizationConfig)})
     * as a directory that {@link HfCheckpoint#load(Path)} reads back: every file of {@code source} that is not a weight
     * file ({@code config.json}, the tokenizer's files), and one {@code model.safetensors} with the state under Hugging
     * Face's names, {@code format: pt} and the int8 layer list ({@link QuantizedCheckpoint#LAYERS}). Hugging Face cannot
     * read int8 codes with their scales: the directory is for Tessera. It replaces a directory {@code out} once complete
     * ({@link #buildDirectory}).
     */
    public static void saveQuantized(CausalLm model, Path source, Path out) throws IOException {
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new IOException("cannot write " + out + ": it is a file, not a directory");
        }
        buildDirectory(out, staging -> {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(source)) {
                for (Path file : files) {
                    String name = file.getFileName().toString();
                    if (Files.isRegularFile(file) && !name.endsWith(".safetensors") && !name.equals(HfCheckpoint.INDEX)) {
                        Files.copy(file, staging.resolve(name));
                    }
                }
            }
            Map<String, Tensor> named = new LinkedHashMap<>();
            model.stateDict().forEach((name, t) -> named.put(HfNames.hf(model.config(), name), t));
            Safetensors.write(staging.resolve(HfCheckpoint.SINGLE), named,
                    QuantizedCheckpoint.metadata(model, Map.of("format", "pt")));
        });
    }

    /**
     * Writes {@code model}, loaded from {@code source}, as a copy of that directory ({@link #copyWith}): each tensor that
     * is a parameter of the model holds the parameter's value in the file's dtype; ignored buffers stay as they are.
     */
    public static void saveLike(CausalLm model, Path source, Path target) throws IOException {
        Map<String, Tensor> own = model.stateDict();
        copyWith(source, target, (name, stored) -> {
            Tensor p = own.get(HfNames.local(name));
            return p == null || HfNames.ignored(name) ? stored : p.detach().to(stored.dtype());
        });
    }

    /** {@link #save} into a new directory {@code dir} (which must not exist) that appears whole or not at all. */
    public static void saveNew(CausalLm model, Path dir, int shards) throws IOException {
        requireNew(dir);
        buildDirectory(dir, staging -> save(model, staging, shards));
    }

    /**
     * Copies the model directory {@code source} to {@code target} (which must not exist) with the same files, tensor
     * names, order, dtypes and metadata, each tensor of each safetensors file replaced by {@code values(name, stored)}
     * (same dtype and shape), every other file copied as it is; {@code target} appears whole or not at all.
     */
    public static void copyWith(Path source, Path target, BiFunction<String, Tensor, Tensor> values) throws IOException {
        copyWith(source, target, values, written -> {});
    }

    /** {@link #copyWith(Path, Path, BiFunction)}, with {@code check} run on the written copy before it appears as {@code target}. */
    public static void copyWith(Path source, Path target, BiFunction<String, Tensor, Tensor> values, AtomicFiles.Check check)
            throws IOException {
        requireNew(target);
        buildDirectory(target, staging -> {
            try (var files = Files.list(source)) {
                for (Path file : files.filter(Files::isRegularFile).sorted().toList()) {
                    Path copy = staging.resolve(file.getFileName());
                    if (file.getFileName().toString().endsWith(".safetensors")) {
                        rewrite(file, copy, values);
                    } else {
                        Files.copy(file, copy);
                    }
                }
            }
            check.verify(staging);
        });
    }

    private static void rewrite(Path file, Path copy, BiFunction<String, Tensor, Tensor> values) throws IOException {
        try (TensorScope scope = TensorScope.open(); SafetensorsFile stored = Safetensors.read(file)) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            stored.tensors().forEach((name, t) -> {
                Tensor value = values.apply(name, t);
                if (value.dtype() != t.dtype() || !Arrays.equals(value.shape(), t.shape())) {
                    throw new IllegalArgumentException(file + ": " + name + " is " + t.describe() + ", cannot write " + value.describe());
                }
                tensors.put(name, value);
            });
            Safetensors.write(copy, tensors, stored.metadata());
        }
    }

    private static void requireNew(Path dir) {
        if (Files.exists(dir)) {
            throw new IllegalArgumentException(dir + " already exists; choose a new directory for the model");
        }
    }

    /** Fills a directory. */
    @FunctionalInterface
    private interface DirectoryFiller {
        void fill(Path staging) throws IOException;
    }

    /**
     * Builds a directory beside {@code out} with {@code filler} and renames it to {@code out} once complete, replacing a
     * directory {@code out}; on failure nothing new is left behind.
     */
    private static void buildDirectory(Path out, DirectoryFiller filler) throws IOException {
        Path target = out.toAbsolutePath().normalize();
        Path parent = target.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new IOException("cannot write " + out + ": the directory " + parent + " does not exist");
        }
        Path temp = Files.createTempDirectory(parent, "." + target.getFileName() + ".");
        try {
            filler.fill(temp);
            replaceDirectory(temp, target);
        } catch (IOException | RuntimeException | Error e) {
            deleteTree(temp);
            throw e;
        }
    }

    /** Renames the complete directory {@code built} to {@code target}; an existing {@code target} is deleted after. */
    private static void replaceDirectory(Path built, Path target) throws IOException {
        Files.setPosixFilePermissions(built, PosixFilePermissions.fromString("rwxr-xr-x"));
        if (!Files.exists(target)) {
            Files.move(built, target, StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        Path old = built.resolveSibling(built.getFileName() + ".old");
        Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        try {
            Files.move(built, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
            throw e;
        }
        deleteTree(old);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /** The parameters under Hugging Face's names, in {@code shards} consecutive groups of about equal bytes. */
    private static List<Map<String, Tensor>> split(ModelConfig config, Map<String, Tensor> own, int shards) {
        long total = own.values().stream().mapToLong(Tensor::numel).sum();
        List<Map<String, Tensor>> groups = new ArrayList<>();
        groups.add(new LinkedHashMap<>());
        long seen = 0;
        int remaining = own.size();
        for (var entry : own.entrySet()) {
            // start the next shard once this one holds its share, keeping one tensor for each shard still to come
            boolean full = seen >= total * groups.size() / shards && !groups.getLast().isEmpty();
            if (groups.size() < shards && (full || remaining == shards - groups.size())) {
                groups.add(new LinkedHashMap<>());
            }
            groups.getLast().put(HfNames.hf(config, entry.getKey()), entry.getValue());
            seen += entry.getValue().numel();
            remaining--;
        }
        return groups;
    }
}
