package io.tessera.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.peers.PeerClient;
import io.tessera.peers.PeerTls;
import io.tessera.peers.Registry;
import io.tessera.peers.TokenAuth;
import io.tessera.peers.wire.Encoding;
import io.tessera.pipeline.Bf16Products;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.HfConfig;
import io.tessera.pipeline.models.Sampler;
import io.tessera.pipeline.text.Tokenizer;
import io.tessera.pipeline.text.TokenizerJson;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/** Generates tokens after a prompt with a Hugging Face model directory. */
@Command(name = "generate", description = {"Generate tokens after a prompt with the model in a Hugging Face directory"
        + " (config.json, model.safetensors or its sharded index, optionally tokenizer.json).",
        "Greedy unless a sampling option is given; stops after an eos_token_id of generation_config.json, else of config.json "
            + "(included in the output).",
        "With --registry, the blocks run on the servers it lists (tessera serve), only the embedding and head here."})
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The Hugging Face model directory.")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Prompt prompt;

    static final class Prompt {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "Text, encoded with DIR/tokenizer.json (its BOS added"
                + " as Hugging Face's tokenizer does). Repeat for several prompts, decoded as one batch.")
        List<String> texts;

        @Option(names = "--prompt-ids", paramLabel = "IDS", converter = IdsConverter.class, description = "Token ids, e.g. 1,2,3"
                + " (no BOS prepended). Repeat for several prompts, decoded as one batch.")
        List<long[]> ids;
    }

    /** One prompt's comma-separated token ids. */
    static final class IdsConverter implements ITypeConverter<long[]> {
        @Override
        public long[] convert(String value) {
            try {
                return Arrays.stream(value.split(",", -1)).mapToLong(id -> Long.parseLong(id.strip())).toArray();
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + value + "' is not a comma-separated list of token ids");
            }
        }
    }

    @Option(names = "--max-new-tokens", required = true, paramLabel = "N", description = "At most this many new tokens.")
    int maxNewTokens;

    @Option(names = "--greedy", description = "Pick the most likely token at every step (the default).")
    boolean greedy;

    @Option(names = "--temperature", paramLabel = "T", description = "Sampling temperature (default 1; 0 is greedy).")
    Double temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Sample among the K most likely tokens (default 0: all).")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", description = "Sample among the fewest most likely tokens whose probability"
            + " reaches P (default 1: all).")
    Double topP;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the sampling (default 0); the same seed gives the same ids.")
    Long seed;

    @Option(names = "--logits-out", paramLabel = "FILE", description = "Write the logits of every position (prompt and generated)"
            + " as one F32 safetensors tensor 'logits' [positions, vocab].")
    Path logitsOut;

    @Option(names = "--int8", description = "Quantize every projection to int8 (LLM.int8, outlier threshold 6) as the model"
            + " loads; a directory written by `tessera quantize` is int8 already.")
    boolean int8;

    @Option(names = "--bf16-products", paramLabel = "P", defaultValue = "exact", description = "How BF16 weights multiply:"
            + " exact (the default: F32 activations times the stored weights, the F32 model's logits up to summation order) or"
            + " rounded (activations rounded to BF16 at every product, as PyTorch's BF16 model computes; prefill on AVX-512"
            + " BF16's vdpbf16ps where the CPU has it). Other weights are unaffected.")
    String bf16Products;

    @Option(names = "--kv-cache", paramLabel = "DTYPE", defaultValue = "f32", converter = KvCacheDtype.class,
            description = "How the KV cache holds keys and values:" + KvCacheDtype.CHOICES + " The logits of --logits-out come"
                    + " from one forward without a cache.")
    DType kvCache;

    @Option(names = "--timings", description = "Print to stderr how long loading and generating took and the process's peak"
            + " resident memory (VmHWM), beside its parts (before loading, the model, its largest tensor as F32): with"
            + " --max-new-tokens 1, load + generate is the time to the first token.")
    boolean timings;

    @Option(names = "--json", description = "Print the result as JSON (for several prompts, an array of results in their order).")
    boolean json;

    @Option(names = "--registry", paramLabel = "ADDR", description = "Run the blocks on the servers (tessera serve) this registry"
            + " lists: host:port of a `tessera registry`, or etcd://host:port[,host:port...]; only the embedding and head run here.")
    String registry;

    @Option(names = "--token-file", paramLabel = "F", description = "With --registry: the file holding the servers' shared token.")
    Path tokenFile;

    @Option(names = "--activations", paramLabel = "ENC", defaultValue = "int8", description = "With --registry: how hidden states"
            + " travel between peers, int8 (blockwise 8-bit, the default) or f32 (exactly the local result).")
    String activations;

    @Mixin
    TlsOptions tlsOptions = new TlsOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        boolean sampling = temperature != null || topK != null || topP != null || seed != null;
        if (greedy && sampling) {
            throw new ParameterException(spec.commandLine(), "--greedy cannot be combined with --temperature, --top-k, --top-p or --seed");
        }
        if (maxNewTokens < 0) {
            throw new ParameterException(spec.commandLine(), "--max-new-tokens must be >= 0, got " + maxNewTokens);
        }
        int prompts = prompt.ids != null ? prompt.ids.size() : prompt.texts.size();
        if (logitsOut != null && prompts > 1) {
            throw new ParameterException(spec.commandLine(), "--logits-out takes a single prompt, got " + prompts);
        }
        if (logitsOut != null) {
            if (registry != null) {
                throw new ParameterException(spec.commandLine(), "--logits-out cannot be combined with --registry");
            }
            AtomicFiles.requireWritable(logitsOut);
        }
        if (!activations.equals("int8") && !activations.equals("f32")) {
            throw new ParameterException(spec.commandLine(), "--activations must be int8 or f32, got '" + activations + "'");
        }
        Bf16Products products = switch (bf16Products) {
            case "exact" -> Bf16Products.EXACT;
            case "rounded" -> Bf16Products.ROUNDED_INPUTS;
            default -> throw new ParameterException(spec.commandLine(), "--bf16-products must be exact or rounded, got '"
                    + bf16Products + "'");
        };
        if (kvCache != DType.F32 && registry != null) {
            throw new ParameterException(spec.commandLine(), "--kv-cache f16 applies to decoding here (with --registry the"
                    + " servers hold the caches)");
        }
        if (products != Bf16Products.EXACT && (int8 || registry != null)) {
            throw new ParameterException(spec.commandLine(), "--bf16-products rounded applies to BF16 weights read here (not with"
                    + " --int8 or --registry)");
        }
        if (registry != null && (prompts > 1 || int8)) {
            throw new ParameterException(spec.commandLine(), "--registry decodes a single prompt with the servers' weights"
                    + " (no --int8, one --prompt or --prompt-ids)");
        }
        Sampler[] samplers = new Sampler[prompts];
        try {
            for (int i = 0; i < prompts; i++) {
                // one sampler per prompt, all seeded alike: each prompt draws what it would draw alone
                samplers[i] = sampling ? new Sampler(orDefault(temperature, 1.0), orDefault(topK, 0), orDefault(topP, 1.0),
                        orDefault(seed, 0L)) : Sampler.greedy();
            }
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        Path tokenizerFile = model.resolve("tokenizer.json");
        Tokenizer tokenizer = Files.isRegularFile(tokenizerFile) ? TokenizerJson.load(tokenizerFile) : null;
        long[][] promptIds = new long[prompts][];
        for (int i = 0; i < prompts; i++) {
            promptIds[i] = prompt.ids != null ? prompt.ids.get(i) : encode(tokenizer, prompt.texts.get(i));
        }
        long[] eosIds = HfConfig.stopTokenIds(model);
        if (registry != null) {
            String token = tokenFile == null ? null : TokenAuth.read(tokenFile);
            PeerTls tls = tlsOptions.tls();
            // the embeddings and head run here, BF16 ones as stored, as the servers hold their blocks
            try (CausalLm lm = HfCheckpoint.load(model, Bf16Products.EXACT); Registry servers = Registry.connect(registry, token, tls);
                 PeerClient client = new PeerClient(servers, lm, new PeerClient.Config().token(token).tls(tls)
                         .encoding(activations.equals("f32") ? Encoding.F32 : Encoding.BLOCKWISE_INT8))) {
                long[] ids = client.generate(promptIds[0], maxNewTokens, samplers[0], eosIds, null, null).ids();
                print(List.of(new Generator.Generation(ids, new float[0][])), tokenizer);
            }
            return 0;
        }
        String residentAtStart = peakResident();
        long start = System.nanoTime();
        // BF16 and F16 weights read as stored (with --int8, those kept out of int8): half the bytes of F32 per decoded token, the
        // same logits up to summation order (exact)
        try (CausalLm lm = int8 ? HfCheckpoint.load(model, QuantizationConfig.defaults(), products) : HfCheckpoint.load(model, products);
             TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
            long loaded = System.nanoTime();
            List<Generator.Generation> generations = Generator.generate(lm, promptIds, maxNewTokens, samplers, eosIds, false, kvCache);
            if (timings) {
                long done = System.nanoTime();
                int tokens = generations.stream().mapToInt(g -> g.ids().length).sum();
                // what the peak is made of: the JVM before loading, the model as loaded, and the transient F32 copy of
                // one tensor that converting or quantizing a BF16 / F16 weight makes (at most the largest)
                Collection<Tensor> held = lm.stateDict().values();
                long modelBytes = held.stream().mapToLong(t -> t.numel() * t.dtype().byteSize()).sum();
                long largestF32 = held.stream().mapToLong(Tensor::numel).max().orElse(0) * Float.BYTES;
                spec.commandLine().getErr().printf("load %.2f s, generate %.2f s (%d tokens of %d prompts), peak resident %s"
                        + " (%s before loading; the model holds %d kB, its largest tensor as F32 is %d kB)%n",
                        (loaded - start) / 1e9, (done - loaded) / 1e9, tokens, prompts, peakResident(), residentAtStart,
                        modelBytes >> 10, largestF32 >> 10);
                spec.commandLine().getErr().flush();
            }
            if (logitsOut != null) {
                long[] ids = generations.get(0).ids();
                long[] all = new long[promptIds[0].length + ids.length];
                System.arraycopy(promptIds[0], 0, all, 0, promptIds[0].length);
                System.arraycopy(ids, 0, all, promptIds[0].length, ids.length);
                Tensor logits = lm.forward(Tensor.of(all, 1, all.length), null).reshape(all.length, lm.config().vocabSize());
                Safetensors.write(logitsOut, Map.of("logits", logits.to(Device.CPU)));
            }
            print(generations, tokenizer);
        }
        return 0;
    }

    private long[] encode(Tokenizer tokenizer, String text) {
        if (tokenizer == null) {
            throw new IllegalArgumentException(model + " has no tokenizer.json: give the prompt as --prompt-ids");
        }
        return Arrays.stream(tokenizer.encode(text, true)).asLongStream().toArray();
    }

    /** One prompt's result as before: the ids on one line and the text on the next; several, one after the other. */
    private void print(List<Generator.Generation> generations, Tokenizer tokenizer) throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            try (JsonGenerator g = Json.MAPPER.createGenerator(out).useDefaultPrettyPrinter()) {
                g.configure(JsonGenerator.Feature.AUTO_CLOSE_TARGET, false);
                if (generations.size() > 1) {
                    g.writeStartArray();
                }
                for (Generator.Generation generation : generations) {
                    long[] ids = generation.ids();
                    g.writeStartObject();
                    g.writeFieldName("ids");
                    g.writeArray(ids, 0, ids.length);
                    if (tokenizer != null) {
                        g.writeStringField("text", decode(tokenizer, ids));
                    }
                    g.writeEndObject();
                }
                if (generations.size() > 1) {
                    g.writeEndArray();
                }
            }
            out.println();
        } else {
            for (Generator.Generation generation : generations) {
                out.println(Arrays.stream(generation.ids()).mapToObj(Long::toString).collect(Collectors.joining(" ")));
                if (tokenizer != null) {
                    out.println(decode(tokenizer, generation.ids()));
                }
            }
        }
        out.flush();
    }

    /** The process's peak resident set (VmHWM of /proc/self/status), or why it is not known. */
    private static String peakResident() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmHWM:"))
                    .map(l -> l.substring(6).trim()).findFirst().orElse("unknown (no VmHWM)");
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    private static String decode(Tokenizer tokenizer, long[] ids) {
        return tokenizer.decode(Arrays.stream(ids).mapToInt(i -> (int) i).toArray());
    }

    private static <T> T orDefault(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
