package io.tessera.pipeline.models;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.nn.Activation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads and writes Hugging Face {@code config.json} files for GPT-2 and the LLaMA family (LLaMA, Mistral, Qwen2).
 * Every problem in a file (missing or mistyped key, unknown {@code model_type}, unsupported value) is reported
 * in one exception that names the file and each key.
 */
public final class HfConfig {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Set<String> LLAMA_FAMILY = Set.of("llama", "mistral", "qwen2");
    /** GPT-2's {@code activation_function} values, as transformers' ACT2FN defines them (gelu_fast is the tanh form too). */
    private static final Map<String, Activation> GPT2_ACTIVATIONS = Map.of("gelu_new", Activation.GELU_TANH, "gelu_pytorch_tanh",
            Activation.GELU_TANH, "gelu_fast", Activation.GELU_TANH, "gelu", Activation.GELU, "relu", Activation.RELU, "silu",
            Activation.SILU, "swish", Activation.SILU);

    private HfConfig() {}

    /** Reads {@code file} (a config.json). */
    public static ModelConfig read(Path file) throws IOException {
        JsonNode root = readJson(file);
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(file + ": not a JSON object");
        }
        Keys keys = new Keys(root);
        String type = keys.text("model_type");
        ModelConfig config = null;
        if ("gpt2".equals(type)) {
            config = gpt2(keys);
        } else if (LLAMA_FAMILY.contains(type)) {
            config = llama(type, keys);
        } else if (type != null) {
            keys.problems.add("model_type: unsupported value \"" + type + "\" (supported: gpt2, llama, mistral, qwen2)");
        }
        if (!keys.problems.isEmpty()) {
            throw new IllegalArgumentException(file + ": " + String.join("; ", keys.problems));
        }
        return config;
    }

    private static ModelConfig gpt2(Keys keys) {
        long hidden = keys.positive("n_embd");
        int heads = (int) keys.positive("n_head");
        Activation activation = keys.choice("activation_function", GPT2_ACTIVATIONS, "gelu_new");
        long inner = keys.optionalLong("n_inner", 4 * hidden);
        if (keys.bool("scale_attn_by_inverse_layer_idx", false) || keys.bool("reorder_and_upcast_attn", false)) {
            keys.problems.add("scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn: unsupported value true");
        }
        if (!keys.bool("scale_attn_weights", true)) {
            keys.problems.add("scale_attn_weights: unsupported value false (scores are always divided by sqrt(head width))");
        }
        divisible(keys, "n_embd", hidden, "n_head", heads);
        if (!keys.bool("tie_word_embeddings", true)) {
            keys.problems.add("tie_word_embeddings: unsupported value false (GPT-2's head is its token embedding)");
        }
        return new ModelConfig("gpt2", keys.positive("vocab_size"), hidden, inner, activation, (int) keys.positive("n_layer"), heads, heads,
                heads > 0 ? hidden / heads : 0, keys.positive("n_positions"), keys.number("layer_norm_epsilon", 1e-5), 0, null,
                true, false, 0);
    }

    private static ModelConfig llama(String type, Keys keys) {
        long hidden = keys.positive("hidden_size");
        int heads = (int) keys.positive("num_attention_heads");
        int kvHeads = (int) keys.optionalLong("num_key_value_heads", heads);
        keys.expect("hidden_act", "silu");
        if (!type.equals("qwen2") && keys.bool("attention_bias", false)) {
            keys.problems.add("attention_bias: unsupported value true");
        }
        if (keys.bool("mlp_bias", false)) {
            keys.problems.add("mlp_bias: unsupported value true");
        }
        long headDim = keys.optionalLong("head_dim", heads > 0 ? hidden / heads : 0);
        if (!keys.root.hasNonNull("head_dim")) {
            divisible(keys, "hidden_size", hidden, "num_attention_heads", heads);
        }
        divisible(keys, "num_attention_heads", heads, "num_key_value_heads", kvHeads);
        long layers = keys.positive("num_hidden_layers");
        long maxPositions = keys.positive("max_position_embeddings");
        Rope rope = rope(keys, maxPositions);
        return new ModelConfig(type, keys.positive("vocab_size"), hidden, keys.positive("intermediate_size"), Activation.SILU,
                (int) layers, heads, kvHeads, headDim, maxPositions, keys.number("rms_norm_eps", 1e-6), rope.theta(), rope.scaling(),
                keys.bool("tie_word_embeddings", false), type.equals("qwen2"), slidingWindow(type, keys, layers));
    }

    /**
     * The attention window, as transformers applies it: Mistral's {@code sliding_window} on every layer; Qwen2's only
     * with {@code use_sliding_window}, and then only on the layers {@code layer_types} marks {@code sliding_attention}
     * (by default those from {@code max_window_layers} on), so a window that no layer has is none; LLaMA has none.
     */
    private static long slidingWindow(String type, Keys keys, long layers) {
        if (type.equals("llama") || type.equals("qwen2") && !keys.bool("use_sliding_window", false)) {
            return 0;
        }
        long window = keys.optionalLong("sliding_window", 0);
        if (type.equals("qwen2") && window > 0) {
            JsonNode layerTypes = keys.root.get("layer_types");
            boolean anyWindowed = layerTypes != null && layerTypes.isArray()
                    ? layerTypes.valueStream().anyMatch(kind -> kind.asText().equals("sliding_attention"))
                    : keys.optionalCount("max_window_layers", 28) < layers;
            return anyWindowed ? window : 0;
        }
        return window;
    }

    /** RoPE's base and its scaling (null for none). */
    private record Rope(double theta, ModelConfig.Llama3Scaling scaling) {}

    /**
     * RoPE's parameters: transformers 5 writes them as one {@code rope_parameters} object (base included), earlier
     * versions as {@code rope_theta} and {@code rope_scaling}. As in transformers, {@code rope_scaling} wins over
     * {@code rope_parameters}, a base inside the object over the top-level {@code rope_theta}, a missing type is
     * {@code default}, and a missing {@code original_max_position_embeddings} is {@code max_position_embeddings}.
     */
    private static Rope rope(Keys keys, long maxPositions) {
        double topTheta = keys.number("rope_theta", 10000);
        String key = keys.root.hasNonNull("rope_scaling") ? "rope_scaling" : "rope_parameters";
        JsonNode node = keys.root.get(key);
        if (node == null || node.isNull()) {
            return new Rope(topTheta, null);
        }
        if (!node.isObject()) {
            keys.problems.add(key + ": expected an object or null, found " + node);
            return new Rope(topTheta, null);
        }
        if (node.valueStream().anyMatch(JsonNode::isObject)) {
            keys.problems.add(key + ": RoPE parameters per layer type are not supported");
            return new Rope(topTheta, null);
        }
        Keys inner = new Keys(node, key + ".", keys.problems);
        double theta = inner.number("rope_theta", topTheta);
        double partial = inner.number("partial_rotary_factor", 1);
        if (partial != 1) {
            keys.problems.add(key + ".partial_rotary_factor: unsupported value " + partial + " (only 1.0)");
        }
        String typeKey = node.hasNonNull("rope_type") ? "rope_type" : "type";
        String kind = node.hasNonNull(typeKey) ? inner.text(typeKey) : "default";
        if (kind == null || kind.equals("default")) {
            return new Rope(theta, null);
        }
        if (!kind.equals("llama3")) {
            keys.problems.add(key + "." + typeKey + ": unsupported value \"" + kind + "\" (supported: llama3, default)");
            return new Rope(theta, null);
        }
        long originalMax = keys.root.hasNonNull("original_max_position_embeddings") ? keys.positive("original_max_position_embeddings")
                : inner.optionalLong("original_max_position_embeddings", maxPositions);
        return new Rope(theta, new ModelConfig.Llama3Scaling(inner.number("factor", Double.NaN),
                inner.number("low_freq_factor", Double.NaN), inner.number("high_freq_factor", Double.NaN), originalMax));
    }

    private static void divisible(Keys keys, String aKey, long a, String bKey, long b) {
        if (a > 0 && b > 0 && a % b != 0) {
            keys.problems.add(aKey + " (" + a + ") is not divisible by " + bKey + " (" + b + ")");
        }
    }

    /** Writes {@code config} as a config.json that Hugging Face's loader accepts (atomically). */
    public static void write(ModelConfig config, Path file) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("model_type", config.modelType());
        root.put("vocab_size", config.vocabSize());
        root.put("tie_word_embeddings", config.tieWordEmbeddings());
        if (config.isGpt2()) {
            root.putArray("architectures").add("GPT2LMHeadModel");
            root.put("n_embd", config.hiddenSize());
            root.put("n_layer", config.layers());
            root.put("n_head", config.heads());
            root.put("n_positions", config.maxPositions());
            root.put("layer_norm_epsilon", config.normEps());
            root.put("n_inner", config.intermediateSize());
            root.put("activation_function", switch (config.activation()) {
                case GELU_TANH -> "gelu_new";
                case GELU -> "gelu";
                case RELU -> "relu";
                case SILU -> "silu";
            });
        } else {
            String arch = switch (config.modelType()) {
                case "mistral" -> "MistralForCausalLM";
                case "qwen2" -> "Qwen2ForCausalLM";
                default -> "LlamaForCausalLM";
            };
            root.putArray("architectures").add(arch);
            root.put("hidden_size", config.hiddenSize());
            root.put("intermediate_size", config.intermediateSize());
            root.put("num_hidden_layers", config.layers());
            root.put("num_attention_heads", config.heads());
            root.put("num_key_value_heads", config.kvHeads());
            root.put("head_dim", config.headDim());
            root.put("max_position_embeddings", config.maxPositions());
            root.put("rms_norm_eps", config.normEps());
            root.put("rope_theta", config.ropeTheta());
            root.put("hidden_act", "silu");
            if (config.slidingWindow() > 0) {
                root.put("sliding_window", config.slidingWindow());
                root.put("use_sliding_window", true);
                root.put("max_window_layers", 0); // Qwen2's: windowed from the first layer on, as Mistral's
            }
            ModelConfig.Llama3Scaling s = config.ropeScaling();
            if (s != null) {
                ObjectNode scaling = root.putObject("rope_scaling");
                scaling.put("rope_type", "llama3");
                scaling.put("factor", s.factor());
                scaling.put("low_freq_factor", s.lowFreqFactor());
                scaling.put("high_freq_factor", s.highFreqFactor());
                scaling.put("original_max_position_embeddings", s.originalMaxPositions());
            }
        }
        byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
        AtomicFiles.writeStream(file, out -> out.write(bytes));
    }

    /**
     * The ids generation stops at for the model directory {@code dir}, where transformers' {@code generate()} finds them:
     * the {@code eos_token_id} of {@code generation_config.json} when the directory has one (none if it names none),
     * else that of {@code config.json}.
     */
    public static long[] stopTokenIds(Path dir) throws IOException {
        Path generation = dir.resolve("generation_config.json");
        return eosTokenIds(Files.isRegularFile(generation) ? generation : dir.resolve("config.json"));
    }

    /**
     * The {@code eos_token_id} of {@code file} (a config.json or generation_config.json): one id, a list of ids, or
     * none when the key is missing or null.
     */
    public static long[] eosTokenIds(Path file) throws IOException {
        JsonNode root = readJson(file);
        JsonNode eos = root == null ? null : root.get("eos_token_id");
        if (eos == null || eos.isNull()) {
            return new long[0];
        }
        List<JsonNode> values = new ArrayList<>();
        if (eos.isArray()) {
            eos.forEach(values::add);
        } else {
            values.add(eos);
        }
        long[] ids = new long[values.size()];
        for (int i = 0; i < ids.length; i++) {
            if (!values.get(i).canConvertToExactIntegral() || values.get(i).asLong() < 0) {
                throw new IllegalArgumentException(file + ": eos_token_id: expected a token id or a list of them, found " + eos);
            }
            ids[i] = values.get(i).asLong();
        }
        return ids;
    }

    private static JsonNode readJson(Path file) throws IOException {
        InputFiles.requireFile(file);
        try {
            return JSON.readTree(file.toFile());
        } catch (JacksonException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Typed lookups that record a problem (naming the key) instead of throwing at the first one. */
    private static final class Keys {
        final JsonNode root;
        final String prefix;
        final List<String> problems;

        Keys(JsonNode root) {
            this(root, "", new ArrayList<>());
        }

        Keys(JsonNode root, String prefix, List<String> problems) {
            this.root = root;
            this.prefix = prefix;
            this.problems = problems;
        }

        String text(String key) {
            JsonNode v = root.get(key);
            if (v == null || !v.isTextual()) {
                problems.add(prefix + key + (v == null ? ": missing" : ": expected a string, found " + v));
                return null;
            }
            return v.asText();
        }

        void expect(String key, String only) {
            JsonNode v = root.get(key);
            if (v != null && !v.isNull() && !only.equals(v.asText())) {
                problems.add(prefix + key + ": unsupported value " + v + " (only \"" + only + "\")");
            }
        }

        /** The value of {@code key} (by default {@code fallback}) looked up in {@code choices}. */
        <T> T choice(String key, Map<String, T> choices, String fallback) {
            JsonNode v = root.get(key);
            String name = v == null || v.isNull() ? fallback : v.asText();
            T chosen = choices.get(name);
            if (chosen == null) {
                problems.add(prefix + key + ": unsupported value " + v + " (supported: " + String.join(", ", choices.keySet().stream()
                        .sorted().toList()) + ")");
            }
            return chosen;
        }

        long positive(String key) {
            JsonNode v = root.get(key);
            if (v == null || v.isNull()) {
                problems.add(prefix + key + ": missing");
                return 0;
            }
            return checkedPositive(key, v);
        }

        long optionalLong(String key, long fallback) {
            JsonNode v = root.get(key);
            return v == null || v.isNull() ? fallback : checkedPositive(key, v);
        }

        /** A non-negative integer, or {@code fallback} when the key is missing or null. */
        long optionalCount(String key, long fallback) {
            JsonNode v = root.get(key);
            if (v == null || v.isNull()) {
                return fallback;
            }
            return checkedAtLeast(key, v, 0, fallback);
        }

        private long checkedPositive(String key, JsonNode v) {
            return checkedAtLeast(key, v, 1, 0);
        }

        /** v as an integer in [min, Integer.MAX_VALUE] (min 0 or 1), else a problem and {@code otherwise}. */
        private long checkedAtLeast(String key, JsonNode v, long min, long otherwise) {
            if (!v.canConvertToExactIntegral() || v.asLong() < min || v.asLong() > Integer.MAX_VALUE) {
                problems.add(prefix + key + ": expected a " + (min == 0 ? "non-negative" : "positive") + " integer, found " + v);
                return otherwise;
            }
            return v.asLong();
        }

        double number(String key, double fallback) {
            JsonNode v = root.get(key);
            if (v == null || v.isNull()) {
                if (Double.isNaN(fallback)) {
                    problems.add(prefix + key + ": missing");
                }
                return fallback;
            }
            if (!v.isNumber() || !(v.asDouble() > 0) || Double.isInfinite(v.asDouble())) {
                problems.add(prefix + key + ": expected a positive number, found " + v);
                return fallback;
            }
            return v.asDouble();
        }

        boolean bool(String key, boolean fallback) {
            JsonNode v = root.get(key);
            if (v == null || v.isNull()) {
                return fallback;
            }
            if (!v.isBoolean()) {
                problems.add(prefix + key + ": expected true or false, found " + v);
                return fallback;
            }
            return v.asBoolean();
        }
    }
}
