package io.tessera.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tessera fisher / mask / finetune / diff / apply / revert on copies of pipeline's tiny causal-LM fixtures. */
class FinetuneCommandTest {
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

    /** A repetitive token stream of {@code count} ids below {@code vocab}, as a token-id file. */
    private Path ids(int count, int vocab) throws IOException {
        String text = IntStream.range(0, count).mapToObj(i -> Integer.toString((7 * (i % 11) + 3) % vocab))
                .collect(Collectors.joining(" "));
        return Files.writeString(dir.resolve("data.ids"), text);
    }

    @Test
    void fisherMaskFinetuneAndPatchChainOnGpt2() throws IOException {
        Path model = copy("gpt2-tiny");
        Path data = ids(400, 96);
        Path fisher = dir.resolve("fisher.safetensors");
        CliRunner.ok("fisher", "--model", model.toString(), "--data", data.toString(), "--seq-len", "16", "--labels", "empirical",
                "-o", fisher.toString());
        Path mask = dir.resolve("mask.safetensors");
        CliRunner.ok("mask", "--fisher", fisher.toString(), "--keep", "0.05", "-o", mask.toString());
        Path tuned = dir.resolve("tuned");
        String report = CliRunner.ok("finetune", "--model", model.toString(), "--mask", mask.toString(), "--data", data.toString(),
                "--steps", "10", "--lr", "1e-2", "--seq-len", "16", "--seed", "1", "-o", tuned.toString(), "--json").out();
        JsonNode json = Json.MAPPER.readTree(report);
        assertTrue(json.get("loss_after").asDouble() < json.get("loss_before").asDouble(), report);
        try (var files = Files.list(tuned)) {
            assertEquals(List.of("config.json", "model.safetensors"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertSameLayout(model.resolve("model.safetensors"), tuned.resolve("model.safetensors"));
        Path patch = dir.resolve("patch.safetensors");
        Path base = model.resolve("model.safetensors");
        CliRunner.ok("diff", base.toString(), tuned.resolve("model.safetensors").toString(), "--mask", mask.toString(),
                "-o", patch.toString());
        Path applied = dir.resolve("applied.safetensors");
        CliRunner.ok("apply", base.toString(), patch.toString(), "-o", applied.toString());
        assertTrue(Arrays.equals(Files.readAllBytes(tuned.resolve("model.safetensors")), Files.readAllBytes(applied)),
                "the patch rebuilds the fine-tuned file bit for bit");
        Path reverted = dir.resolve("reverted.safetensors");
        CliRunner.ok("revert", applied.toString(), patch.toString(), "-o", reverted.toString());
        assertTrue(Arrays.equals(Files.readAllBytes(base), Files.readAllBytes(reverted)), "revert gives the base back bit for bit");
    }

    /** The patch commands on Hugging Face directories, here a sharded LLaMA: diff, apply and revert bit for bit per file. */
    @Test
    void patchCommandsTakeModelDirectories() throws IOException {
        Path model = copy("llama-tiny");
        Path data = ids(300, 96);
        Path fisher = dir.resolve("fisher.safetensors");
        CliRunner.ok("fisher", "--model", model.toString(), "--data", data.toString(), "--seq-len", "8", "-o", fisher.toString());
        Path mask = dir.resolve("mask.safetensors");
        CliRunner.ok("mask", "--fisher", fisher.toString(), "--keep", "0.02", "-o", mask.toString());
        Path tuned = dir.resolve("tuned");
        CliRunner.ok("finetune", "--model", model.toString(), "--mask", mask.toString(), "--data", data.toString(), "--steps", "3",
                "--lr", "1e-2", "--seq-len", "8", "-o", tuned.toString());
        Path patch = dir.resolve("patch.safetensors");
        CliRunner.ok("diff", model.toString(), tuned.toString(), "--mask", mask.toString(), "-o", patch.toString());
        Path applied = dir.resolve("applied");
        CliRunner.ok("apply", model.toString(), patch.toString(), "-o", applied.toString());
        assertSameFiles(tuned, applied);
        Path reverted = dir.resolve("reverted");
        CliRunner.ok("revert", applied.toString(), patch.toString(), "-o", reverted.toString());
        assertSameFiles(model, reverted);
        List<String> before = CliRunner.listing(dir);
        Path gpt = copy("gpt2-tiny");
        CliRunner.fails(1, List.of("does not apply to"), "apply", gpt.toString(), patch.toString(), "-o", dir.resolve("x").toString());
        CliRunner.fails(1, List.of("already exists"), "apply", model.toString(), patch.toString(), "-o", applied.toString());
        Files.walk(gpt).sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        assertEquals(before, CliRunner.listing(dir), "nothing written by failed runs");
    }

    private static void assertSameFiles(Path expected, Path actual) throws IOException {
        List<String> names = CliRunner.listing(expected);
        assertEquals(names, CliRunner.listing(actual));
        for (String name : names) {
            assertTrue(Arrays.equals(Files.readAllBytes(expected.resolve(name)), Files.readAllBytes(actual.resolve(name))), name);
        }
    }

    private static void assertSameLayout(Path expected, Path actual) throws IOException {
        try (SafetensorsFile a = Safetensors.read(expected); SafetensorsFile b = Safetensors.read(actual)) {
            assertEquals(List.copyOf(a.tensors().keySet()), List.copyOf(b.tensors().keySet()));
            a.tensors().forEach((name, t) -> {
                assertEquals(t.dtype(), b.tensor(name).dtype(), name);
                assertTrue(Arrays.equals(t.shape(), b.tensor(name).shape()), name);
            });
            assertEquals(a.metadata(), b.metadata());
        }
    }

    @Test
    void badInputFailsWithOneLineAndLeavesNothing() throws IOException {
        Path model = copy("llama-tiny");
        Path good = ids(200, 96);
        Path fisher = dir.resolve("f.safetensors");
        String m = model.toString();
        List<String> before = CliRunner.listing(dir);
        CliRunner.fails(1, List.of("missing.ids"), "fisher", "--model", m, "--data", dir.resolve("missing.ids").toString(),
                "-o", fisher.toString());
        Path outside = Files.writeString(dir.resolve("outside.ids"), "1 2 3 96 4 5 6 7 8 9");
        CliRunner.fails(1, List.of("outside.ids", "token 3 has id 96", "vocabulary"), "fisher", "--model", m, "--data",
                outside.toString(), "--seq-len", "4", "-o", fisher.toString());
        Path empty = Files.writeString(dir.resolve("empty.ids"), "");
        CliRunner.fails(1, List.of("empty.ids", "0 tokens"), "fisher", "--model", m, "--data", empty.toString(), "-o", fisher.toString());
        Path text = Files.writeString(dir.resolve("words.txt"), "some text");
        CliRunner.fails(1, List.of("no tokenizer.json"), "fisher", "--model", m, "--data", text.toString(), "-o", fisher.toString());
        CliRunner.fails(2, List.of("--data is required"), "fisher", "--model", m, "-o", fisher.toString());
        Path notModel = Files.createDirectories(dir.resolve("not-a-model"));
        CliRunner.fails(1, List.of("config.json"), "fisher", "--model", notModel.toString(), "--data", good.toString(),
                "-o", fisher.toString());
        Files.delete(notModel);
        Files.delete(outside);
        Files.delete(empty);
        Files.delete(text);
        assertEquals(before, CliRunner.listing(dir), "nothing written by failed runs");

        Path grams = dir.resolve("grams.safetensors");
        CliRunner.ok("fisher", "--model", m, "--data", good.toString(), "--seq-len", "8", "--examples", "6", "--labels", "sampled",
                "--grams", grams.toString(), "-o", fisher.toString());
        try (SafetensorsFile g = Safetensors.read(grams)) {
            assertEquals(32 * 32, g.tensor("model.layers.0.self_attn.q_proj.weight").numel(), "RegMean Grams of the LLaMA projections");
            assertEquals(64 * 64, g.tensor("model.layers.1.mlp.down_proj.weight").numel());
        }
        Path mask = dir.resolve("mask.safetensors");
        CliRunner.ok("mask", "--fisher", fisher.toString(), "--keep", "0.01", "-o", mask.toString());
        Path gptMask = dir.resolve("gpt-mask.safetensors");
        Path gpt = copy("gpt2-tiny");
        CliRunner.ok("fisher", "--model", gpt.toString(), "--data", good.toString(), "--seq-len", "8", "--examples", "2",
                "-o", dir.resolve("g.safetensors").toString());
        CliRunner.ok("mask", "--fisher", dir.resolve("g.safetensors").toString(), "--keep", "0.01", "-o", gptMask.toString());
        List<String> ready = CliRunner.listing(dir);
        Path tuned = dir.resolve("tuned");
        CliRunner.fails(1, List.of("not a parameter"), "finetune", "--model", m, "--mask", gptMask.toString(), "--data", good.toString(),
                "--steps", "1", "--seq-len", "8", "-o", tuned.toString());
        CliRunner.fails(1, List.of("missing.safetensors"), "finetune", "--model", m, "--mask",
                dir.resolve("missing.safetensors").toString(), "--data", good.toString(), "-o", tuned.toString());
        CliRunner.fails(2, List.of("--steps"), "finetune", "--model", m, "--mask", mask.toString(), "--data", good.toString(),
                "--steps", "0", "-o", tuned.toString());
        CliRunner.fails(1, List.of("already exists"), "finetune", "--model", m, "--mask", mask.toString(), "--data", good.toString(),
                "-o", model.toString());
        assertEquals(ready, CliRunner.listing(dir), "nothing written by failed runs");
        assertFalse(Files.exists(tuned));
        assertTrue(CliRunner.ok("finetune", "--help").out().contains("--mask"));
    }
}
