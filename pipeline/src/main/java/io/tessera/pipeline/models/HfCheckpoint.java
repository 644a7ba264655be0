package io.tessera.pipeline.models;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Loads and saves Hugging Face model directories: {@code config.json} plus {@code model.safetensors}, or shards
 * listed by {@code model.safetensors.index.json}. Shards are memory-mapped and each tensor is copied once into
 * the model's F32 parameters (BF16 and F16 converted), after which the mappings are released.
 */
public final class HfCheckpoint {
    static final String SINGLE = "model.safetensors";
    static final String INDEX = "model.safetensors.index.json";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private HfCheckpoint() {}

    /**
     * The model in {@code dir}. Every problem with the tensors (missing, unexpected, wrong shape or dtype, in the
     * wrong shard) is reported in one IllegalArgumentException naming each tensor and its file.
     */
    public static CausalLm load(Path dir) throws IOException {
        ModelConfig config = HfConfig.read(dir.resolve("config.json"));
        Map<String, String> weightMap = weightMap(dir);
        List<String> files = weightMap == null ? List.of(SINGLE) : List.copyOf(new LinkedHashSet<>(weightMap.values()));
        CausalLm model = CausalLm.create(config, 0);
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            for (String file : files) {
                opened.add(Safetensors.read(dir.resolve(file)));
            }
            model.loadStateDict(collect(model, opened, weightMap), true);
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        } finally {
            opened.forEach(SafetensorsFile::close);
        }
    }

    /** The index's weight_map (checkpoint name to shard file), or null for a single-file checkpoint. */
    private static Map<String, String> weightMap(Path dir) throws IOException {
        Path index = dir.resolve(INDEX);
        if (!Files.exists(index)) {
            InputFiles.requireFile(dir.resolve(SINGLE));
            return null;
        }
        JsonNode map;
        try {
            map = JSON.readTree(index.toFile()).get("weight_map");
        } catch (JacksonException e) {
            throw new IllegalArgumentException(index + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (map == null || !map.isObject() || map.isEmpty()) {
            throw new IllegalArgumentException(index + ": weight_map is missing or empty");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (var entry : map.properties()) {
            String file = entry.getValue().asText();
            if (!entry.getValue().isTextual() || file.contains("/") || file.contains("\\")) {
                throw new IllegalArgumentException(index + ": weight_map." + entry.getKey() + " is not a file name: " + entry.getValue());
            }
            out.put(entry.getKey(), file);
        }
        return out;
    }

    /** The model's state from the files' tensors, or one exception listing every problem. */
    private static Map<String, Tensor> collect(CausalLm model, List<SafetensorsFile> files, Map<String, String> weightMap) {
        Map<String, Tensor> own = model.stateDict();
        Map<String, Tensor> state = new LinkedHashMap<>();
        Map<String, Path> origin = new LinkedHashMap<>();
        Map<String, Tensor> tiedHeads = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        for (SafetensorsFile file : files) {
            Path path = file.path();
            for (var entry : file.tensors().entrySet()) {
                String name = entry.getKey();
                Tensor tensor = entry.getValue();
                String local = HfNames.local(name);
                Tensor target = own.get(local);
                if (weightMap != null && !path.getFileName().toString().equals(weightMap.get(name))) {
                    problems.add(name + " in " + path + " is not listed for that file in " + INDEX);
                } else if (HfNames.ignored(name)) {
                    continue;
                } else if (local.equals(HfNames.LM_HEAD) && model.config().tieWordEmbeddings()) {
                    tiedHeads.put(path + ": " + name, tensor);
                } else if (origin.containsKey(local)) {
                    problems.add(name + " in " + path + " duplicates the tensor already read from " + origin.get(local));
                } else if (target == null) {
                    problems.add("unexpected tensor " + name + " in " + path);
                } else if (!Arrays.equals(target.shape(), tensor.shape()) || !tensor.dtype().isFloatingPoint()) {
                    problems.add(name + " in " + path + " is " + tensor.describe() + ", expected " + target.describe());
                } else {
                    state.put(local, tensor);
                    origin.put(local, path);
                }
            }
        }
        if (weightMap != null) {
            weightMap.forEach((name, file) -> {
                if (files.stream().noneMatch(f -> f.path().getFileName().toString().equals(file) && f.tensors().containsKey(name))) {
                    problems.add(name + " is listed in " + INDEX + " for " + file + ", which has no such tensor");
                }
            });
        }
        String where = files.stream().map(f -> f.path().toString()).toList().toString();
        own.keySet().stream().filter(k -> !state.containsKey(k))
                .forEach(k -> problems.add("missing tensor " + HfNames.hf(model.config(), k) + " (looked in " + where + ")"));
        Tensor embedding = state.get(model.config().isGpt2() ? "wte.weight" : "embed_tokens.weight");
        try (TensorScope scope = TensorScope.open()) {
            tiedHeads.forEach((where2, head) -> {
                // a tied head is the embedding itself; a different one would be silently dropped, so it is an error
                if (embedding != null && !Arrays.equals(head.to(embedding.dtype()).toFloatArray(), embedding.toFloatArray())) {
                    problems.add(where2 + " differs from the embedding it is tied to (tie_word_embeddings is true)");
                }
            });
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("cannot load the checkpoint:\n  " + String.join("\n  ", problems));
        }
        return state;
    }

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
            Safetensors.write(dir.resolve(SINGLE), groups.get(0), metadata);
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
        AtomicFiles.writeStream(dir.resolve(INDEX), out -> out.write(bytes));
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
