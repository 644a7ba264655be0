package io.tessera.cli;

import static io.tessera.cli.CliRunner.ok;
import static io.tessera.cli.CliRunner.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfConfig;
import io.tessera.pipeline.models.ModelConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code tessera create-model}: seeded random weights in Hugging Face's layout, and {@code generate --timings} on them. */
class CreateModelCommandTest {
    private static final ModelConfig SMALL = ModelConfig.llama(97, 64, 96, 2, 4, 2, 32);

    @TempDir
    Path dir;

    @Test
    void writesTheSeededModelThatGenerateLoads() throws Exception {
        Path config = dir.resolve("config.json");
        HfConfig.write(SMALL, config);
        ok("create-model", "--config", config.toString(), "--seed", "3", "--shards", "2", "-o", dir.resolve("f32").toString());
        ok("create-model", "--config", config.toString(), "--seed", "3", "--dtype", "bf16", "-o", dir.resolve("bf16").toString());
        ok("create-model", "--config", config.toString(), "--seed", "3", "--dtype", "f16", "-o", dir.resolve("f16").toString());
        assertTrue(Files.exists(dir.resolve("f32/model.safetensors.index.json")), "two shards and their index");
        for (DType half : new DType[] {DType.BF16, DType.F16}) {
            try (CausalLm expected = CausalLm.create(SMALL, 3);
                 SafetensorsFile stored = Safetensors.read(dir.resolve(half.name().toLowerCase(Locale.ROOT) + "/model.safetensors"))) {
                Tensor embedding = stored.tensor("model.embed_tokens.weight");
                assertEquals(half, embedding.dtype());
                assertEquals(half, stored.tensor("model.layers.1.mlp.down_proj.weight").dtype());
                Map<String, Tensor> own = expected.stateDict();
                assertArrayEquals(own.get("embed_tokens.weight").to(half).to(DType.F32).toFloatArray(),
                        embedding.to(DType.F32).toFloatArray(), "the seed's weights, rounded to " + half);
                assertEquals(DType.F32, stored.tensor("model.norm.weight").dtype(), "norms stay f32");
            }
        }
        CliRunner.Run f16 = run("generate", "--model", dir.resolve("f16").toString(), "--prompt-ids", "1,2,3", "--max-new-tokens", "2",
                "--greedy");
        assertEquals(0, f16.exitCode(), f16.err());
        CliRunner.Run generated = run("generate", "--model", dir.resolve("bf16").toString(), "--int8", "--prompt-ids", "1,2,3",
                "--max-new-tokens", "1", "--timings");
        assertEquals(0, generated.exitCode(), generated.err());
        Matcher timings = Pattern.compile("load [0-9.]+ s, generate [0-9.]+ s \\(1 tokens of 1 prompts\\), peak resident \\d+ kB"
                + " \\(\\d+ kB before loading; the model holds (\\d+) kB, its largest tensor as F32 is (\\d+) kB\\)\\R")
                .matcher(generated.err());
        assertTrue(timings.matches(), generated.err());
        try (CausalLm f32 = CausalLm.create(SMALL, 3)) {
            long floatBytes = f32.stateDict().values().stream().mapToLong(t -> t.numel() * 4).sum();
            long largest = f32.stateDict().values().stream().mapToLong(Tensor::numel).max().orElseThrow() * 4;
            long held = Long.parseLong(timings.group(1)) << 10;
            assertTrue(held < floatBytes && held > floatBytes / 4, "int8 projections: " + held + " of " + floatBytes + " bytes");
            assertEquals(largest >> 10, Long.parseLong(timings.group(2)));
        }
    }

    @Test
    void refusesAnExistingDirectoryAndABadDtype() throws Exception {
        Path config = dir.resolve("config.json");
        HfConfig.write(SMALL, config);
        Files.createDirectory(dir.resolve("taken"));
        CliRunner.Run taken = run("create-model", "--config", config.toString(), "-o", dir.resolve("taken").toString());
        assertEquals(1, taken.exitCode());
        assertTrue(taken.err().contains("taken already exists"), taken.err());
        CliRunner.Run dtype = run("create-model", "--preset", "gpt2-small", "--dtype", "f64", "-o", dir.resolve("x").toString());
        assertEquals(2, dtype.exitCode());
        assertTrue(dtype.err().contains("--dtype must be f32, bf16 or f16, got 'f64'"), dtype.err());
        CliRunner.Run preset = run("create-model", "--preset", "gpt3", "-o", dir.resolve("y").toString());
        assertEquals(2, preset.exitCode());
        assertTrue(preset.err().contains("unknown model shape 'gpt3'"), preset.err());
        assertFalse(Files.exists(dir.resolve("x")) || Files.exists(dir.resolve("y")), "nothing written");
    }
}
