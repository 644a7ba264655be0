package io.tessera.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.pipeline.Bf16Products;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.HfConfig;
import io.tessera.pipeline.models.Sampler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** tessera generate on copies of pipeline's tiny fixture models, against their float64 PyTorch reference. */
class GenerateCommandTest {
    private static final Path FIXTURES = Path.of("../pipeline/src/test/resources/models");

    @TempDir
    Path dir;

    private Path copy(String name) throws IOException {
        Path target = Files.createDirectories(dir.resolve(name));
        try (Stream<Path> files = Files.list(FIXTURES.resolve(name))) {
            for (Path f : files.toList()) {
                Files.copy(f, target.resolve(f.getFileName()));
            }
        }
        return target;
    }

    private record Reference(long[] prompt, long[] generated, double[] logits) {}

    private static Reference reference(String name) throws IOException {
        try (SafetensorsFile f = Safetensors.read(FIXTURES.resolve(name + ".reference.safetensors"))) {
            long[] ids = f.tensor("ids").toLongArray();
            long[] generated = f.tensor("generated").toLongArray();
            return new Reference(Arrays.copyOf(ids, ids.length - generated.length), generated, f.tensor("logits").toDoubleArray());
        }
    }

    private static String joined(long[] ids, String separator) {
        return Arrays.stream(ids).mapToObj(Long::toString).collect(Collectors.joining(separator));
    }

    /** qwen2-tiny-bf16 and llama-tiny-f16: BF16 and F16 checkpoints, which generate reads as stored (HalfLinear). */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2-tiny", "llama-tiny", "qwen2-tiny-bf16", "llama-tiny-f16"})
    void greedyIdsAndLogitsOutMatchTheReference(String name) throws IOException {
        Path model = copy(name);
        Reference ref = reference(name);
        Path logits = dir.resolve("logits.safetensors");
        CliRunner.Run r = CliRunner.ok("generate", "--model", model.toString(), "--prompt-ids", joined(ref.prompt(), ","),
                "--max-new-tokens", Integer.toString(ref.generated().length), "--greedy", "--logits-out", logits.toString());
        assertEquals(joined(ref.generated(), " "), r.out().strip());
        try (SafetensorsFile f = Safetensors.read(logits)) {
            assertEquals(List.of("logits"), List.copyOf(f.tensors().keySet()));
            Tensor t = f.tensor("logits");
            assertEquals(DType.F32, t.dtype());
            int positions = ref.prompt().length + ref.generated().length;
            assertArrayEquals(new long[] {positions, ref.logits().length / positions}, t.shape());
            float[] actual = t.toFloatArray();
            for (int i = 0; i < actual.length; i++) {
                double expected = ref.logits()[i];
                assertTrue(Math.abs(actual[i] - expected) <= 2e-5 + 2e-5 * Math.abs(expected),
                        "logit " + i + ": " + actual[i] + " vs " + expected);
            }
        }
    }

    /**
     * --bf16-products rounded: the logits of the library's model with BF16 activations at the products (bit for bit),
     * not the exact products' logits.
     */
    @Test
    void roundedBf16ProductsAreTheLibrarysRoundedModel() throws IOException {
        Path model = copy("qwen2-tiny-bf16");
        long[] prompt = reference("qwen2-tiny-bf16").prompt();
        Path logits = dir.resolve("rounded.safetensors");
        CliRunner.ok("generate", "--model", model.toString(), "--prompt-ids", joined(prompt, ","), "--max-new-tokens", "0",
                "--bf16-products", "rounded", "--logits-out", logits.toString());
        float[] cli;
        try (SafetensorsFile f = Safetensors.read(logits)) {
            cli = f.tensor("logits").toFloatArray();
        }
        assertArrayEquals(logitsOf(model, prompt, Bf16Products.ROUNDED_INPUTS), cli);
        float[] exact = logitsOf(model, prompt, Bf16Products.EXACT);
        assertEquals(exact.length, cli.length);
        assertTrue(!Arrays.equals(exact, cli), "rounding the activations changes the logits");
    }

    private static float[] logitsOf(Path model, long[] prompt, Bf16Products products) throws IOException {
        try (CausalLm lm = HfCheckpoint.load(model, products); TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
            return lm.forward(Tensor.of(prompt, 1, prompt.length), null).toFloatArray();
        }
    }

    /** The greedy ids of gpt2-tiny (its config names no EOS) stop at generation_config.json's eos_token_id, included. */
    @Test
    void generationConfigsEosStopsGeneration() throws IOException {
        Path model = copy("gpt2-tiny");
        Reference ref = reference("gpt2-tiny");
        String[] args = {"generate", "--model", model.toString(), "--prompt-ids", joined(ref.prompt(), ","), "--max-new-tokens",
            Integer.toString(ref.generated().length), "--greedy"};
        long eos = ref.generated()[2];
        int stop = 0;
        while (ref.generated()[stop] != eos) {
            stop++;
        }
        Files.writeString(model.resolve("generation_config.json"), "{\"eos_token_id\": [" + eos + "]}");
        assertEquals(joined(Arrays.copyOf(ref.generated(), stop + 1), " "), CliRunner.ok(args).out().strip());
    }

    @Test
    void jsonAndSeededSamplingRepeat() throws IOException {
        Path model = copy("gpt2-tiny");
        String[] args = {"generate", "--model", model.toString(), "--prompt-ids", "1,2,3", "--max-new-tokens", "10", "--temperature",
            "1.5", "--top-k", "20", "--top-p", "0.9", "--seed", "11", "--json"};
        String first = CliRunner.ok(args).out();
        assertEquals(first, CliRunner.ok(args).out(), "same seed, same output");
        JsonNode ids = Json.MAPPER.readTree(first).get("ids");
        assertEquals(10, ids.size(), first);
        ids.forEach(id -> assertTrue(id.asLong() >= 0 && id.asLong() < 96, first));
    }

    @Test
    void badInputIsOneLineWithExitCodeOne() throws IOException {
        Path model = copy("gpt2-tiny");
        String dirArg = model.toString();
        CliRunner.fails(1, List.of("token id 96", "vocabulary"),
                "generate", "--model", dirArg, "--prompt-ids", "1,96", "--max-new-tokens", "2");
        CliRunner.fails(1, List.of("tokenizer.json", "--prompt-ids"),
                "generate", "--model", dirArg, "--prompt", "hi", "--max-new-tokens", "2");
        Path shard = model.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(shard);
        Files.write(shard, Arrays.copyOf(bytes, bytes.length - 100));
        CliRunner.fails(1, List.of("model.safetensors"), "generate", "--model", dirArg, "--prompt-ids", "1", "--max-new-tokens", "2");
        Files.delete(model.resolve("config.json"));
        CliRunner.fails(1, List.of("config.json"), "generate", "--model", dirArg, "--prompt-ids", "1", "--max-new-tokens", "2");
    }

    /** --kv-cache f16 decodes over an F16 cache: the ids of the library's generation over one, for both architectures. */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2-tiny", "llama-tiny"})
    void anF16KvCacheGivesTheLibrarysF16CachedIds(String name) throws IOException {
        Path model = copy(name);
        long[] prompt = reference(name).prompt();
        String out = CliRunner.ok("generate", "--model", model.toString(), "--prompt-ids", joined(prompt, ","), "--max-new-tokens",
                "12", "--kv-cache", "f16").out();
        long[] expected;
        try (CausalLm lm = HfCheckpoint.load(model, Bf16Products.EXACT)) {
            expected = Generator.generate(lm, new long[][] {prompt}, 12, new Sampler[] {Sampler.greedy()},
                    HfConfig.stopTokenIds(model), false, DType.F16).get(0).ids();
        }
        assertEquals(joined(expected, " "), out.strip());
    }

    @Test
    void usageErrorsExitTwo() throws IOException {
        String dirArg = copy("gpt2-tiny").toString();
        CliRunner.fails(2, List.of("--greedy"), "generate", "--model", dirArg, "--prompt-ids", "1", "--max-new-tokens", "2",
                "--greedy", "--temperature", "1");
        CliRunner.fails(2, List.of("mutually exclusive"), "generate", "--model", dirArg, "--prompt-ids", "1", "--prompt", "x",
                "--max-new-tokens", "2");
        CliRunner.fails(2, List.of("top-p"), "generate", "--model", dirArg, "--prompt-ids", "1", "--max-new-tokens", "2", "--top-p", "2");
        CliRunner.fails(2, List.of("--max-new-tokens"), "generate", "--model", dirArg, "--prompt-ids", "1");
        CliRunner.fails(2, List.of("--bf16-products", "'fast'"), "generate", "--model", dirArg, "--prompt-ids", "1",
                "--max-new-tokens", "2", "--bf16-products", "fast");
        CliRunner.fails(2, List.of("--bf16-products", "--int8"), "generate", "--model", dirArg, "--prompt-ids", "1",
                "--max-new-tokens", "2", "--bf16-products", "rounded", "--int8");
        CliRunner.fails(2, List.of("--kv-cache must be f32 or f16, got 'bf16'"), "generate", "--model", dirArg, "--prompt-ids", "1",
                "--max-new-tokens", "2", "--kv-cache", "bf16");
    }

    @Test
    void severalPromptsAreOneBatchGivingWhatEachGivesAlone() throws IOException {
        String m = copy("llama-tiny").toString();
        String[] prompts = {"5,17,42,3,88,11", "7", "60,29,1"};
        StringBuilder alone = new StringBuilder();
        for (String p : prompts) {
            alone.append(CliRunner.ok("generate", "--model", m, "--prompt-ids", p, "--max-new-tokens", "5").out());
        }
        String batched = CliRunner.ok("generate", "--model", m, "--prompt-ids", prompts[0], "--prompt-ids", prompts[1],
                "--prompt-ids", prompts[2], "--max-new-tokens", "5").out();
        assertEquals(alone.toString(), batched);
        String json = CliRunner.ok("generate", "--model", m, "--prompt-ids", prompts[0], "--prompt-ids", prompts[1],
                "--max-new-tokens", "5", "--json").out();
        assertEquals(2, Json.MAPPER.readTree(json).size(), json);
        assertEquals(alone.toString().lines().toList().get(1), Json.MAPPER.readTree(json).get(1).get("ids").toString()
                .replaceAll("[\\[\\]]", "").replace(",", " "), json);
        CliRunner.fails(2, List.of("--logits-out takes a single prompt, got 2"), "generate", "--model", m, "--prompt-ids", "1",
                "--prompt-ids", "2", "--max-new-tokens", "1", "--logits-out", dir.resolve("l.safetensors").toString());
        CliRunner.fails(2, List.of("'1,x' is not a comma-separated list of token ids"), "generate", "--model", m,
                "--prompt-ids", "1,x", "--max-new-tokens", "1");
    }
}
