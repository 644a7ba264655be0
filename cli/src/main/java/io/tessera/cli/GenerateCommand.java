package io.tessera.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.peers.GrpcRegistry;
import io.tessera.peers.PeerClient;
import io.tessera.peers.PeerTls;
import io.tessera.peers.Registry;
import io.tessera.peers.TokenAuth;
import io.tessera.peers.wire.Encoding;
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
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** Generates tokens after a prompt with a Hugging Face model directory. */
@Command(name = "generate", description = {"Generate tokens after a prompt with the model in a Hugging Face directory"
        + " (config.json, model.safetensors or its sharded index, optionally tokenizer.json).",
        "Greedy unless a sampling option is given; stops after an eos_token_id of config.json (included in the output).",
        "With --registry, the blocks run on the servers it lists (tessera serve), only the embedding and head here."})
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The Hugging Face model directory.")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Prompt prompt;

    static final class Prompt {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "Text, encoded with DIR/tokenizer.json (its BOS added"
                + " as Hugging Face's tokenizer does).")
        String text;

        @Option(names = "--prompt-ids", split = ",", paramLabel = "IDS", description = "Token ids, e.g. 1,2,3 (no BOS prepended).")
        long[] ids;
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

    @Option(names = "--json", description = "Print the result as JSON.")
    boolean json;

    @Option(names = "--registry", paramLabel = "ADDR", description = "Run the blocks on the servers (tessera serve) this registry"
            + " lists, host:port; only the embedding and head run here.")
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
        if (logitsOut != null) {
            if (registry != null) {
                throw new ParameterException(spec.commandLine(), "--logits-out cannot be combined with --registry");
            }
            AtomicFiles.requireWritable(logitsOut);
        }
        if (!activations.equals("int8") && !activations.equals("f32")) {
            throw new ParameterException(spec.commandLine(), "--activations must be int8 or f32, got '" + activations + "'");
        }
        Sampler sampler;
        try {
            sampler = sampling ? new Sampler(orDefault(temperature, 1.0), orDefault(topK, 0), orDefault(topP, 1.0), orDefault(seed, 0L))
                    : Sampler.greedy();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        Path tokenizerFile = model.resolve("tokenizer.json");
        Tokenizer tokenizer = Files.isRegularFile(tokenizerFile) ? TokenizerJson.load(tokenizerFile) : null;
        long[] promptIds = prompt.ids != null ? prompt.ids : encode(tokenizer, prompt.text);
        long[] eosIds = HfConfig.eosTokenIds(model.resolve("config.json"));
        if (registry != null) {
            String token = tokenFile == null ? null : TokenAuth.read(tokenFile);
            PeerTls tls = tlsOptions.tls();
            try (CausalLm lm = HfCheckpoint.load(model); Registry servers = new GrpcRegistry(registry, token, tls);
                 PeerClient client = new PeerClient(servers, lm, new PeerClient.Config().token(token).tls(tls)
                         .encoding(activations.equals("f32") ? Encoding.F32 : Encoding.BLOCKWISE_INT8))) {
                long[] ids = client.generate(promptIds, maxNewTokens, sampler, eosIds, null, null).ids();
                print(ids, decode(tokenizer, ids));
            }
            return 0;
        }
        try (CausalLm lm = HfCheckpoint.load(model); TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
            Generator.Generation generation = Generator.generate(lm, promptIds, maxNewTokens, sampler, eosIds, false);
            if (logitsOut != null) {
                long[] all = new long[promptIds.length + generation.ids().length];
                System.arraycopy(promptIds, 0, all, 0, promptIds.length);
                System.arraycopy(generation.ids(), 0, all, promptIds.length, generation.ids().length);
                Tensor logits = lm.forward(Tensor.of(all, 1, all.length), null).reshape(all.length, lm.config().vocabSize());
                Safetensors.write(logitsOut, Map.of("logits", logits.to(Device.CPU)));
            }
            print(generation.ids(), decode(tokenizer, generation.ids()));
        }
        return 0;
    }

    private static String decode(Tokenizer tokenizer, long[] ids) {
        return tokenizer == null ? null : tokenizer.decode(Arrays.stream(ids).mapToInt(i -> (int) i).toArray());
    }

    private long[] encode(Tokenizer tokenizer, String text) {
        if (tokenizer == null) {
            throw new IllegalArgumentException(model + " has no tokenizer.json: give the prompt as --prompt-ids");
        }
        return Arrays.stream(tokenizer.encode(text, true)).asLongStream().toArray();
    }

    private void print(long[] ids, String text) throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            try (JsonGenerator g = Json.MAPPER.createGenerator(out).useDefaultPrettyPrinter()) {
                g.configure(JsonGenerator.Feature.AUTO_CLOSE_TARGET, false);
                g.writeStartObject();
                g.writeFieldName("ids");
                g.writeArray(ids, 0, ids.length);
                if (text != null) {
                    g.writeStringField("text", text);
                }
                g.writeEndObject();
            }
            out.println();
        } else {
            out.println(Arrays.stream(ids).mapToObj(Long::toString).collect(Collectors.joining(" ")));
            if (text != null) {
                out.println(text);
            }
        }
        out.flush();
    }

    private static <T> T orDefault(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
