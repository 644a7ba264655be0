package io.tessera.bench.jlama;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.tjake.jlama.model.DistributedContext;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.safetensors.TensorInfo;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.tensor.AbstractTensor;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * What Jlama 0.8.4 needs besides a Hugging Face directory as {@code tessera create-model} (and {@code save_pretrained})
 * writes it. Its loader reads the model from the directory's {@code config.json} and refuses a directory without a
 * {@code tokenizer.json}; its GPT-2 reads the legacy layout of OpenAI's checkpoint (names without the {@code transformer.}
 * prefix, {@code n_ctx}); its LLaMA config needs an {@code eos_token_id}. So the peer loads a view of the directory, next
 * to it: the same safetensors files (linked, not copied), the config with those keys added, a synthetic tokenizer, and
 * a {@link #weights} loader that finds a legacy name under its prefixed one. Nothing in the original directory changes.
 * Jlama's 4-bit weights come from {@link #quantized}, as its {@code quantize} command makes its published Q4 models.
 */
final class JlamaDirectory {
    /** The prefix save_pretrained gives GPT-2's weights; OpenAI's checkpoint, which Jlama reads, has none. */
    static final String GPT2_PREFIX = "transformer.";
    static final String README = "README.md";

    private JlamaDirectory() {
    }

    /** A view of {@code source} as Jlama reads it, (re)written at {@code view}. */
    static Path view(Path source, Path view) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(source.resolve("config.json").toFile());
        int vocab = config.path("vocab_size").asInt(0);
        if (vocab < 1) {
            throw new IOException(source.resolve("config.json") + " has no positive vocab_size");
        }
        if (!config.has("n_ctx") && config.has("n_positions")) {
            config.set("n_ctx", config.get("n_positions"));
        }
        // never used (the benchmark feeds ids and takes the argmax), but Jlama's LLaMA config cannot be read without it
        if (!config.has("eos_token_id")) {
            config.put("eos_token_id", vocab - 1);
        }
        if (Files.exists(view)) {
            try (Stream<Path> old = Files.list(view)) {
                for (Path p : old.toList()) {
                    Files.delete(p);
                }
            }
        }
        Files.createDirectories(view);
        try (Stream<Path> files = Files.list(source)) {
            for (Path p : files.filter(p -> p.getFileName().toString().startsWith("model.safetensors")).toList()) {
                Files.createSymbolicLink(view.resolve(p.getFileName()), p.toAbsolutePath());
            }
        }
        json.writeValue(view.resolve("config.json").toFile(), config);
        json.writeValue(view.resolve("tokenizer.json").toFile(), Map.of("model", tokenizer(vocab)));
        // Jlama's quantizer copies the model card into what it writes
        Files.writeString(view.resolve(README), "A view of " + source.toAbsolutePath() + " for Jlama (bench/jlama-peer).\n");
        return view;
    }

    /**
     * {@code view} quantized to {@code type} by Jlama's quantizer (every matrix, embeddings and head included) into
     * {@code target}, unless an earlier run wrote it: the F32 weights behind a view are the seeded ones of every run.
     */
    static Path quantized(Path view, Path target, DType type) throws IOException {
        if (Files.isRegularFile(target.resolve("model.safetensors"))) {
            return target;
        }
        Path partial = target.resolveSibling(target.getFileName() + ".partial"); // a killed run leaves no half-written model
        if (Files.exists(partial)) {
            try (Stream<Path> old = Files.list(partial)) {
                for (Path p : old.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(partial);
        }
        SafeTensorSupport.quantizeModel(view, type, null, null, Optional.of(partial));
        Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE);
        return target;
    }

    /** A byte-pair tokenizer of {@code vocab} distinct placeholder tokens and no merges: enough to load, never used. */
    static Map<String, Object> tokenizer(int vocab) {
        Map<String, Long> ids = new LinkedHashMap<>();
        for (long id = 0; id < vocab; id++) {
            ids.put("<t" + id + ">", id);
        }
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("vocab", ids);
        model.put("merges", List.of());
        return model;
    }

    /** Jlama's safetensors loader for {@code dir}, with GPT-2's weights under their legacy names (the prefix dropped). */
    static WeightLoader weights(File dir) {
        WeightLoader stored = SafeTensorSupport.loadWeights(dir);
        Map<String, String> storedNames = new LinkedHashMap<>();
        Map<String, TensorInfo> infos = new LinkedHashMap<>();
        stored.tensorInfoMap().forEach((name, info) -> {
            String legacy = name.startsWith(GPT2_PREFIX) ? name.substring(GPT2_PREFIX.length()) : name;
            storedNames.put(legacy, name);
            infos.put(legacy, info);
        });
        return new WeightLoader() {
            @Override
            public Map<String, String> metadata() {
                return stored.metadata();
            }

            @Override
            public Map<String, TensorInfo> tensorInfoMap() {
                return infos;
            }

            @Override
            public AbstractTensor load(String name, DistributedContext dctx, boolean sparseRows, boolean sparseColumns) {
                return stored.load(storedNames.getOrDefault(name, name), dctx, sparseRows, sparseColumns);
            }

            @Override
            public DType getModelDType() {
                return stored.getModelDType();
            }

            @Override
            public void close() throws Exception {
                stored.close();
            }
        };
    }
}
