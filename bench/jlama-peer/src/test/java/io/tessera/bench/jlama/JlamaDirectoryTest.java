package io.tessera.bench.jlama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tjake.jlama.model.gpt2.GPT2Config;
import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.util.JsonSupport;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The view of a save_pretrained-style GPT-2 directory that Jlama reads, and the peer's command line; no model runs. */
class JlamaDirectoryTest {
    private static final int VOCAB = 5;
    private static final int POSITIONS = 16;

    @Test
    void jlamaReadsTheViewOfAPrefixedGpt2Directory(@TempDir Path tmp) throws Exception {
        Path source = Files.createDirectories(tmp.resolve("gpt2-f32"));
        Files.writeString(source.resolve("config.json"), "{\"model_type\": \"gpt2\", \"vocab_size\": " + VOCAB
                + ", \"n_embd\": 2, \"n_layer\": 1, \"n_head\": 1, \"n_positions\": " + POSITIONS + "}");
        float[] wte = {1, 2, 3, 4};
        writeSafetensors(source.resolve("model.safetensors"), "transformer.wte.weight", wte);

        Path view = JlamaDirectory.view(source, tmp.resolve("jlama").resolve("gpt2-f32"));
        assertEquals(POSITIONS, JsonSupport.om.readValue(view.resolve("config.json").toFile(), GPT2Config.class).contextLength);
        assertEquals(VOCAB, SafeTensorSupport.loadTokenizer(view).vocabLookup.size());
        try (WeightLoader weights = JlamaDirectory.weights(view.toFile())) {
            assertTrue(weights.isWeightPresent("wte.weight"));
            AbstractTensor t = weights.load("wte.weight");
            assertEquals(wte[3], t.get(1, 1));
        }
        JlamaDirectory.view(source, view); // a second run rewrites the view
        assertTrue(Files.isSymbolicLink(view.resolve("model.safetensors")));
    }

    @Test
    void optionsAreAllRequiredAndKnown() {
        String[] all = {"--out", "o.json", "--models", "m", "--presets", "gpt2-small,tinyllama", "--contexts", "128,1024",
            "--threads", "2", "--warmup", "3", "--iterations", "5", "--iteration-seconds", "1"};
        JlamaPeer.Options options = JlamaPeer.Options.parse(all);
        assertEquals(2, options.presets().size());
        assertEquals(1024, options.contexts()[1]);
        assertEquals("tinyllama/q4/ctx1024", JlamaPeer.key("tinyllama", JlamaPeer.Weights.Q4.key, 1024));
        assertThrows(IllegalArgumentException.class, () -> JlamaPeer.Options.parse(new String[] {"--out", "o.json"}));
        String[] unknown = all.clone();
        unknown[0] = "--output";
        assertThrows(IllegalArgumentException.class, () -> JlamaPeer.Options.parse(unknown));
    }

    @Test
    void aFailureIsOneLineSayingWhere() {
        String line = JlamaPeer.oneLine(new RuntimeException(new UnsupportedOperationException()));
        assertTrue(line.startsWith("UnsupportedOperationException in JlamaDirectoryTest.aFailureIsOneLineSayingWhere"), line);
        assertTrue(!line.contains("\n"), line);
    }

    /** A one-tensor safetensors file: F32 values as a square matrix. */
    private static void writeSafetensors(Path file, String name, float[] values) throws IOException {
        int side = (int) Math.sqrt(values.length);
        byte[] header = ("{\"" + name + "\": {\"dtype\": \"F32\", \"shape\": [" + side + ", " + side + "], \"data_offsets\": [0, "
                + values.length * Float.BYTES + "]}}").getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(Long.BYTES + header.length + values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        for (float v : values) {
            b.putFloat(v);
        }
        Files.write(file, b.array());
    }
}
