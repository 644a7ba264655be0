package io.tessera.cli;

import static io.tessera.cli.CliRunner.fails;
import static io.tessera.cli.CliRunner.listing;
import static io.tessera.cli.CliRunner.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tessera quantize on Hugging Face directories (copies of pipeline's tiny fixtures), and the int8 result generating. */
class QuantizeCommandTest {
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

    @Test
    void aQuantizedDirectoryGeneratesWhatGenerateInt8Does() throws IOException {
        for (String name : new String[] {"gpt2-tiny", "llama-tiny"}) {
            Path model = copy(name);
            Path out = dir.resolve(name + "-int8");
            CliRunner.Run r = ok("quantize", "--model", model.toString(), "-o", out.toString());
            assertTrue(r.out().contains(name.startsWith("gpt2") ? "quantized 8 layers to int8" : "quantized 15 layers to int8"), r.out());
            try (SafetensorsFile f = Safetensors.read(out.resolve("model.safetensors"))) {
                String q = name.startsWith("gpt2") ? "transformer.h.0.attn.c_attn.weight" : "model.layers.0.self_attn.q_proj.weight";
                assertEquals(DType.I8, f.tensor(q).dtype());
            }
            String[] prompt = {"--prompt-ids", "5,17,42,3", "--max-new-tokens", "6"};
            String fromDir = ok(concat(new String[] {"generate", "--model", out.toString()}, prompt)).out();
            String atLoad = ok(concat(new String[] {"generate", "--model", model.toString(), "--int8"}, prompt)).out();
            assertEquals(atLoad, fromDir, name);
        }
    }

    @Test
    void keptLayersStayFloatEmbeddingsOnRequestAndTheModelFileInsideADirectoryWorksToo() throws IOException {
        Path model = copy("gpt2-tiny");
        Path out = dir.resolve("q");
        ok("quantize", "--model", model.resolve("model.safetensors").toString(), "-o", out.toString(), "--keep-float",
                "h.1.mlp.c_proj,h.0.attn.c_attn,wpe", "--threshold", "inf", "--embeddings");
        try (SafetensorsFile f = Safetensors.read(out.resolve("model.safetensors"))) {
            assertEquals(DType.I8, f.tensor("transformer.wte.weight").dtype());
            assertEquals(DType.F32, f.tensor("transformer.wpe.weight").dtype());
            assertEquals(DType.F32, f.tensor("transformer.h.1.mlp.c_proj.weight").dtype());
            assertEquals(DType.F32, f.tensor("transformer.h.0.attn.c_attn.weight").dtype());
            assertEquals(DType.I8, f.tensor("transformer.h.0.attn.c_proj.weight").dtype());
            assertTrue(f.metadata().get("tessera.int8.layers").contains("h.0.attn.c_proj=inf"), f.metadata().toString());
        }
        assertEquals(4, ok("generate", "--model", out.toString(), "--prompt-ids", "1,2", "--max-new-tokens", "4").out().strip()
                .split(" ").length);
    }

    @Test
    void badInputIsOneLineAndLeavesNothing() throws IOException {
        Path model = copy("gpt2-tiny");
        String m = model.toString();
        String out = dir.resolve("out").toString();
        fails(1, List.of("keepFloat names no Linear layer", "[h.9.mlp]"), "quantize", "--model", m, "-o", out, "--keep-float", "h.9.mlp");
        fails(1, List.of("the directory " + dir.resolve("nowhere") + " does not exist"), "quantize", "--model", m, "-o",
                dir.resolve("nowhere/out").toString());
        fails(1, List.of("is the model directory itself"), "quantize", "--model", m, "-o", m);
        fails(2, List.of("--data", "MLPs only"), "quantize", "--model", m, "-o", out, "--data", dir.toString());
        fails(2, List.of("--threshold", "'-1' is not a positive number or inf"), "quantize", "--model", m, "-o", out, "--threshold", "-1");
        Path lone = Files.createDirectories(dir.resolve("lone")).resolve("weights.safetensors");
        Files.copy(model.resolve("model.safetensors"), lone);
        fails(1, List.of(lone + " is neither an MLP checkpoint", "no config.json beside it"), "quantize", "--model", lone.toString(),
                "-o", out);
        Path shard = model.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(shard);
        Files.write(shard, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        fails(1, List.of("model.safetensors"), "quantize", "--model", m, "-o", out);
        assertEquals(List.of("gpt2-tiny", "lone"), listing(dir));
        assertEquals(List.of("weights.safetensors"), listing(dir.resolve("lone")));
    }

    private static String[] concat(String[] a, String[] b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
