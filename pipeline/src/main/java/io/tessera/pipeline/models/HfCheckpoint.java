package io.tessera.pipeline.models;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import io.tessera.pipeline.HalfLinear;
import io.tessera.pipeline.Bf16Products;
import io.tessera.pipeline.HalfWeights;
import io.tessera.pipeline.OutputMajorWeights;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.pipeline.QuantizedCheckpoint;
import io.tessera.pipeline.QuantizedLinear;
import io.tessera.pipeline.Quantization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Loads Hugging Face model directories: {@code config.json} plus {@code model.safetensors}, or shards
 * listed by {@code model.safetensors.index.json}. Shards are memory-mapped; by default F32 tensors become the
 * model's parameters as zero-copy, read-only views of the mapping (no second copy in memory), while BF16 and F16
 * tensors are converted into F32 parameters (to train, or to compute Fisher information); for inference, {@link
 * #load(Path, Bf16Products)} keeps BF16 and F16 weights as they are stored.
 */
public final class HfCheckpoint {
    static final String SINGLE = "model.safetensors";
    static final String INDEX = "model.safetensors.index.json";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private HfCheckpoint() {}

    /** {@link #load(Path, boolean) load(dir, false)}: F32 weights stay in the mapped files. */
    public static CausalLm load(Path dir) throws IOException {
        return load(dir, false, null, null);
    }

    /**
     * The model in {@code dir} for inference: as {@link #load(Path)}, but every Linear and embedding whose weight is
     * stored in BF16 or F16 becomes a {@link HalfLinear} reading it in place from the mapped file (half the bytes of F32
     * per decoded token, no F32 copy), multiplying as {@code products} says (F16 ones always exactly). The F32
     * weights of GPT-2's Conv1D layers are copied output-major ({@link OutputMajorWeights}: decoding reads them faster
     * that way), their mapped pages dropped, so only they are not zero-copy.
     */
    public static CausalLm load(Path dir, Bf16Products products) throws IOException {
        return load(dir, false, null, Objects.requireNonNull(products, "products"));
    }

    /**
     * The model in {@code dir}. Every problem with the tensors (missing, unexpected, wrong shape or dtype, in the
     * wrong shard) is reported in one IllegalArgumentException naming each tensor and its file. With
     * {@code copy}, every parameter is an ordinary writable tensor (to train in place) and the files are closed;
     * without, F32 parameters are read-only views of the files, which stay mapped until the model is closed
     * (gradients flow to them; in-place updates are refused). A checkpoint written by
     * {@link HfCheckpointWriter#saveQuantized} loads with its int8 layers.
     */
    public static CausalLm load(Path dir, boolean copy) throws IOException {
        return load(dir, copy, null, null);
    }

    /**
     * The model in {@code dir} with its projections quantized to int8 as {@code int8} says, tensor by tensor as they
     * are read: beyond the int8 model, at most one F32 copy of a weight exists at a time (BF16 and F16 weights are
     * converted one by one); the float layers kept are loaded as by {@link #load(Path)}. An int8 checkpoint loads as
     * it is.
     */
    public static CausalLm load(Path dir, QuantizationConfig int8) throws IOException {
        return load(dir, false, int8, null);
    }

    /**
     * As {@link #load(Path, QuantizationConfig)}, for inference: the float layers kept whose weights are stored in BF16
     * or F16 (by default the embeddings, and GPT-2's tied head with them) read them in place as {@link #load(Path,
     * Bf16Products)} does, instead of as F32 copies (TinyLlama's embeddings: 131 MB as stored, 262 MB widened). The same values: a
     * lookup gives the same bits, a product differs only by F32 summation order (with {@link Bf16Products#EXACT}).
     */
    public static CausalLm load(Path dir, QuantizationConfig int8, Bf16Products products) throws IOException {
        return load(dir, false, Objects.requireNonNull(int8, "int8"), Objects.requireNonNull(products, "products"));
    }

    private static CausalLm load(Path dir, boolean copy, QuantizationConfig int8, Bf16Products products) throws IOException {
        ModelConfig config = HfConfig.read(dir.resolve("config.json"));
        Map<String, String> weightMap = weightMap(dir);
        List<String> files = weightMap == null ? List.of(SINGLE) : List.copyOf(new LinkedHashSet<>(weightMap.values()));
        // every parameter is adopted, overwritten or quantized below (collect reports any missing), so none is initialised
        CausalLm model = Module.uninitialised(() -> CausalLm.create(config, 0));
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            for (String file : files) {
                opened.add(readUnscoped(dir.resolve(file)));
            }
            List<SafetensorsFile> all = List.copyOf(opened);
            Map<String, Float> stored = storedInt8Layers(opened);
            QuantizedCheckpoint.prepare(model, stored, dir);
            Map<String, Tensor> state = collect(model, opened, weightMap);
            if (int8 != null && stored.isEmpty()) {
                Quantization.quantize(model, int8, (path, layer) -> quantized(dir, config, path, layer, state, int8, opened));
            }
            List<Tensor> inPlace = products == null ? List.of() : HalfWeights.adopt(model, state, products);
            if (copy) {
                model.loadStateDict(state, true);
            } else {
                adoptViews(model, state, opened, inPlace);
            }
            if (products != null) {
                // read once into their copies: the mapped pages need not stay resident beside them
                OutputMajorWeights.relayout(model, weight -> all.forEach(file -> file.evict(weight)));
            }
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        } finally {
            opened.forEach(SafetensorsFile::close);
        }
    }

    /** The int8 layer in place of {@code layer} (a Linear or Embedding), from its tensors in {@code state}, which gives them up. */
    private static QuantizedLinear quantized(Path dir, ModelConfig config, String path, Module layer, Map<String, Tensor> state,
            QuantizationConfig int8, List<SafetensorsFile> files) {
        boolean inputMajor = layer instanceof Linear linear && linear.inputMajor();
        layer.close();
        try {
            Tensor weight = state.remove(path + ".weight");
            QuantizedLinear quantized = QuantizedLinear.of(weight, inputMajor, state.remove(path + ".bias"), int8.outlierThreshold());
            // read once: its pages of the mapped file need not stay resident beside the int8 codes
            files.forEach(file -> file.evict(weight));
            return quantized;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir + ": " + HfNames.hf(config, path + ".weight") + ": " + e.getMessage(), e);
        } finally {
            // The host block cache now holds the conversion's F32 copy (resident) and the skeleton's F32 weight closed
            // above: kept there, each would be resident beside the int8 model (the last layer's copy until the end, or
            // every skeleton weight once a later conversion of its size touched it). Return them to the system.
            HostStorage.emptyCache();
        }
    }

    /** The int8 layers the files' metadata list (every file that lists them must list the same), or none. */
    private static Map<String, Float> storedInt8Layers(List<SafetensorsFile> files) {
        Map<String, Float> layers = Map.of();
        for (SafetensorsFile file : files) {
            Map<String, Float> listed = QuantizedCheckpoint.layers(file);
            if (!listed.isEmpty() && !layers.isEmpty() && !listed.equals(layers)) {
                throw new IllegalArgumentException(file.path() + ": metadata " + QuantizedCheckpoint.LAYERS
                        + " differs from the other shards'");
            }
            layers = listed.isEmpty() ? layers : listed;
        }
        return layers;
    }

    /**
     * Makes the tensors of {@code state} whose dtype is the parameters' the model's parameters (views of the files,
     * no copy) and converts the others into the parameters; the files with adopted tensors (or tensors the model
     * already reads in place: {@code inPlace}) move from {@code opened} to the model, which closes them when it closes.
     */
    private static void adoptViews(CausalLm model, Map<String, Tensor> state, List<SafetensorsFile> opened, List<Tensor> inPlace) {
        Map<String, Tensor> views = new LinkedHashMap<>();
        Map<String, Tensor> converted = new LinkedHashMap<>();
        Map<String, Tensor> parameters = model.namedParameters();
        Set<Tensor> adopted = Collections.newSetFromMap(new IdentityHashMap<>());
        adopted.addAll(inPlace);
        state.forEach((name, t) -> {
            Tensor own = parameters.get(name);
            if (own != null && t.dtype() == own.dtype()) {
                // a view that does not own the mapping: closing one parameter (e.g. a Linear swapped out by
                // quantization) must not unmap the file the others still read; the model unmaps it when it closes
                views.put(name, t.detach());
                adopted.add(t);
            } else {
                converted.put(name, t);
            }
        });
        model.loadStateDict(converted, false);
        // read once into their converted copies: their pages need not stay resident while the file stays mapped for the views
        converted.values().forEach(t -> opened.forEach(file -> file.evict(t)));
        model.adoptParameters(views);
        for (var it = opened.iterator(); it.hasNext();) {
            SafetensorsFile file = it.next();
            if (file.tensors().values().stream().anyMatch(adopted::contains)) {
                model.retain(file);
                it.remove();
            }
        }
    }

    /** Reads a file whose tensors outlive any TensorScope the caller has open (they may become parameters). */
    private static SafetensorsFile readUnscoped(Path file) throws IOException {
        try {
            return TensorScope.outside(() -> {
                try {
                    return Safetensors.read(file);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** Float tensors load into float parameters (converted), int8 codes only into int8 buffers. */
    private static boolean loadable(DType stored, DType target) {
        return target.isFloatingPoint() ? stored.isFloatingPoint() : stored == target;
    }

    /** The index's weight_map (checkpoint name to shard file), or null for a single-file checkpoint. */
    private static Map<String, String> weightMap(Path dir) throws IOException {
        Path index = dir.resolve(INDEX);
        // as Hugging Face's loader: a single model.safetensors wins over an index next to it
        if (Files.exists(dir.resolve(SINGLE)) || !Files.exists(index)) {
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
                } else if (!Arrays.equals(target.shape(), tensor.shape()) || !loadable(tensor.dtype(), target.dtype())) {
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
            tiedHeads.forEach((source, head) -> {
                // a tied head is the embedding itself; a different one would be silently dropped, so it is an error
                if (embedding != null && !Arrays.equals(head.to(embedding.dtype()).toFloatArray(), embedding.toFloatArray())) {
                    problems.add(source + " differs from the embedding it is tied to (tie_word_embeddings is true)");
                }
            });
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("cannot load the checkpoint:\n  " + String.join("\n  ", problems));
        }
        return state;
    }
}
