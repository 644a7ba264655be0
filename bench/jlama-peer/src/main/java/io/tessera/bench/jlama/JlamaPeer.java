package io.tessera.bench.jlama;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import com.github.tjake.jlama.tensor.operations.TensorOperationsProvider;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;
import jdk.incubator.vector.FloatVector;

/**
 * Jlama's side of scripts/bench: whole-model decode at batch 1, one token that attends to {@code context} positions,
 * on the Hugging Face directories {@code tessera create-model} writes, timed as ModelDecodeBenchmark times Tessera.
 *
 * <pre>
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar jlama-peer.jar \
 *     --out jlama.json --models DIR --presets gpt2-small,tinyllama --contexts 128,1024 --threads N \
 *     --warmup 3 --iterations 5 --iteration-seconds 1
 * </pre>
 *
 * <p>{@code DIR/<preset>-f32} and {@code DIR/<preset>-bf16} hold each model in F32 and in BF16. Weights: {@code f32} and
 * {@code bf16} as stored, {@code q4} the F32 directory quantized by Jlama's quantizer (its own 4-bit format), written
 * once into {@code DIR/jlama}. Each variant is prefilled once with {@code max(contexts) - 1} tokens; a step feeds one
 * token at position {@code context - 1} (so it attends to {@code context} positions; the entry it writes is rewritten
 * by the next step, the context stays fixed) and computes the logits and the greedy next token, as Jlama's own
 * generation loop does per token. A figure is the best of the measurement iterations' mean step time, as scripts/bench
 * reads JMH's.
 *
 * <p>Writes peer.py's JSON shape: {@code {"meta": {...}, "results": {key: {"seconds": s, "how": "..."}}, "errors":
 * {key: "one line"}}} with keys {@code <preset>/<weights>/ctx<context>} (bench/decode_keys.py's engine_key).
 */
public final class JlamaPeer {
    /**
     * A weight format of the table's Jlama column: the directory it comes from and what Jlama's quantizer makes of it
     * (its load-time quantization is no substitute in 0.8.4: it skips GPT-2, and LLaMA's row-sharded q, k, v, gate and
     * up projections, whose F32 weights its I8 activations then cannot multiply).
     */
    enum Weights {
        F32("f32", "f32", Optional.empty()),
        BF16("bf16", "bf16", Optional.empty()),
        Q4("q4", "f32", Optional.of(DType.Q4));

        final String key;
        final String directory;
        final Optional<DType> quantizeTo;

        Weights(String key, String directory, Optional<DType> quantizeTo) {
            this.key = key;
            this.directory = directory;
            this.quantizeTo = quantizeTo;
        }
    }

    /** How many frames of a failure's root cause its one-line reason names: enough to tell which step of Jlama refused. */
    private static final int WHERE_FRAMES = 3;

    /** The token every step feeds, as DecodeSession's. */
    private static final int NEXT_TOKEN = 42;

    private final Options options;
    private final Map<String, Object> meta = new LinkedHashMap<>();
    private final Map<String, Map<String, Object>> results = new LinkedHashMap<>();
    private final Map<String, String> errors = new LinkedHashMap<>();

    private JlamaPeer(Options options) {
        this.options = options;
    }

    public static void main(String[] args) throws IOException {
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("jlama-peer: " + e.getMessage());
            System.exit(2);
            return;
        }
        new JlamaPeer(options).run();
    }

    /** The result key of one row, as bench/decode_keys.py's engine_key spells it. */
    static String key(String preset, String weights, int context) {
        return preset + "/" + weights + "/ctx" + context;
    }

    private void run() throws IOException {
        // Jlama sizes its pool to half the cores (physical ones, it assumes); the bench gives every engine the same count
        PhysicalCoreExecutor.overrideThreadCount(options.threads);
        meta.put("jlama", jlamaVersion());
        meta.put("java", Runtime.version().toString());
        meta.put("threads", PhysicalCoreExecutor.instance.get().getCoreCount());
        meta.put("kernels", TensorOperationsProvider.get().name());
        meta.put("vector_bits", FloatVector.SPECIES_PREFERRED.vectorBitSize());
        meta.put("working", "working memory (activations, KV cache) F32, quantized working type I8 as Jlama's CLI defaults "
                + "(Jlama multiplies F32 weights in F32, BF16 weights with BF16 activations, Q4 weights with I8 activations)");
        System.out.printf("jlama-peer: Jlama %s, %s, %d threads%n", meta.get("jlama"), meta.get("kernels"), meta.get("threads"));
        for (String preset : options.presets) {
            for (Weights weights : Weights.values()) {
                measure(preset, weights);
                write(); // after every variant, so that a crash later keeps what was measured
            }
        }
    }

    private void measure(String preset, Weights weights) {
        Path dir = options.models.resolve(preset + "-" + weights.directory);
        AbstractModel model = null;
        try {
            Path config = dir.resolve("config.json");
            if (!Files.isRegularFile(config)) {
                throw new IllegalStateException("no model directory " + dir);
            }
            Path views = options.models.resolve("jlama");
            Path view = JlamaDirectory.view(dir, views.resolve(dir.getFileName()));
            if (weights.quantizeTo.isPresent()) {
                view = JlamaDirectory.quantized(view, views.resolve(preset + "-" + weights.key), weights.quantizeTo.get());
            }
            model = ModelSupport.loadModel(AbstractModel.InferenceType.FULL_GENERATION, view.toFile(), null, DType.F32, DType.I8,
                    Optional.empty(), Optional.empty(), Optional.empty(), JlamaDirectory::weights);
            time(preset, weights, model);
        } catch (Throwable e) { // one variant failing (unsupported, out of memory) must not lose the others
            String why = oneLine(e);
            for (int context : options.contexts) {
                errors.put(key(preset, weights.key, context), why);
            }
            System.out.printf("  %-28s %s%n", preset + "/" + weights.key, why);
            e.printStackTrace();
        } finally {
            if (model != null) {
                model.close();
            }
        }
    }

    private void time(String preset, Weights weights, AbstractModel model) {
        int vocab = model.getConfig().vocabularySize;
        int longest = Arrays.stream(options.contexts).max().orElseThrow();
        if (longest > model.getConfig().contextLength) {
            throw new IllegalArgumentException("context " + longest + " exceeds the model's " + model.getConfig().contextLength);
        }
        int[] prompt = new int[longest - 1];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = (int) ((i * 7919L) % vocab); // DecodeSession's prompt
        }
        String how = describe(model, weights) + ", forward(token, pos, KvBuffer) + sample (final norm, head, argmax)";
        try (KvBufferCache caches = new KvBufferCache(model);
             KvBufferCache.KvBuffer kv = caches.getKvBuffer(UUID.randomUUID());
             AbstractTensor logits = model.makeDenseTensor(vocab)) {
            try (AbstractTensor ignored = model.batchForward(prompt, 0, kv)) {
                // the cache now holds positions 0 .. longest - 2
            }
            for (int context : options.contexts) {
                int position = context - 1;
                double seconds = bestIterationMean(() -> step(model, kv, position, logits));
                results.put(key(preset, weights.key, context), Map.of("seconds", seconds, "how", how));
                System.out.printf("  %-28s %10.3f ms   (%s)%n", key(preset, weights.key, context), seconds * 1e3, how);
            }
        }
    }

    private static int step(AbstractModel model, KvBufferCache.KvBuffer kv, int position, AbstractTensor logits) {
        try (AbstractTensor out = model.forward(NEXT_TOKEN, position, kv, Optional.empty())) {
            return model.sample(out, 0f, 0f, logits);
        }
    }

    /** Warmup iterations, then the best of the measurement iterations' mean seconds per call (each at least the time). */
    private double bestIterationMean(Runnable call) {
        long iterationNanos = (long) (options.iterationSeconds * 1e9);
        double best = Double.POSITIVE_INFINITY;
        for (int i = 0; i < options.warmup + options.iterations; i++) {
            long start = System.nanoTime();
            long calls = 0;
            long elapsed;
            do {
                call.run();
                calls++;
                elapsed = System.nanoTime() - start;
            } while (elapsed < iterationNanos);
            if (i >= options.warmup) {
                best = Math.min(best, elapsed / 1e9 / calls);
            }
        }
        return best;
    }

    private static String describe(AbstractModel model, Weights weights) {
        return switch (weights) {
            case F32 -> "F32 weights";
            case BF16 -> model.getModelType() == ModelSupport.ModelType.GPT2 ? "BF16 weights"
                    : "BF16 blocks, embedding and head converted to F32 on load";
            case Q4 -> "Q4 weights (Jlama's quantize: blocks, embedding and head)";
        };
    }

    /** The root cause in one line, with where it was thrown (Jlama's UnsupportedOperationExceptions carry no message). */
    static String oneLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        StringBuilder line = new StringBuilder(root.getClass().getSimpleName());
        if (root.getMessage() != null) {
            line.append(": ").append(root.getMessage().replaceAll("\\s+", " "));
        }
        StackTraceElement[] frames = root.getStackTrace();
        for (int i = 0; i < Math.min(WHERE_FRAMES, frames.length); i++) {
            String cls = frames[i].getClassName();
            line.append(i == 0 ? " in " : " from ").append(cls.substring(cls.lastIndexOf('.') + 1)).append('.')
                    .append(frames[i].getMethodName());
        }
        return line.toString();
    }

    private static String jlamaVersion() {
        try (InputStream in = AbstractModel.class.getResourceAsStream("/META-INF/maven/com.github.tjake/jlama-core/pom.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "?");
        } catch (IOException e) {
            return "?";
        }
    }

    private void write() throws IOException {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("meta", meta);
        doc.put("results", results);
        doc.put("errors", errors);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(options.out.toFile(), doc);
    }

    /** The command line. */
    record Options(Path out, Path models, List<String> presets, int[] contexts, int threads, int warmup, int iterations,
                   double iterationSeconds) {
        static Options parse(String[] args) {
            Map<String, String> given = new LinkedHashMap<>();
            for (int i = 0; i < args.length; i += 2) {
                if (!args[i].startsWith("--") || i + 1 >= args.length) {
                    throw new IllegalArgumentException("expected --option value pairs, got '" + args[i] + "'");
                }
                given.put(args[i].substring(2), args[i + 1]);
            }
            List<String> known = List.of("out", "models", "presets", "contexts", "threads", "warmup", "iterations",
                    "iteration-seconds");
            for (String name : given.keySet()) {
                if (!known.contains(name)) {
                    throw new IllegalArgumentException("unknown option --" + name + " (known: --" + String.join(", --", known) + ")");
                }
            }
            for (String name : known) {
                if (!given.containsKey(name)) {
                    throw new IllegalArgumentException("--" + name + " is required");
                }
            }
            List<String> presets = new ArrayList<>(List.of(given.get("presets").split(",")));
            int[] contexts = Arrays.stream(given.get("contexts").split(",")).mapToInt(Integer::parseInt).toArray();
            if (Arrays.stream(contexts).anyMatch(c -> c < 2)) {
                throw new IllegalArgumentException("every context must be at least 2, got " + given.get("contexts"));
            }
            return new Options(Path.of(given.get("out")), Path.of(given.get("models")), presets, contexts,
                    Integer.parseInt(given.get("threads")), Integer.parseInt(given.get("warmup")),
                    Integer.parseInt(given.get("iterations")), Double.parseDouble(given.get("iteration-seconds")));
        }
    }
}
