package io.tessera.bench.jlama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Jlama computes the model the benchmark times: its logits at every position of the pipeline module's tiny fixtures,
 * fed one token at a time as the peer's steps are, against the fixtures' float64 references (hf_reference.py), the
 * same files Tessera's ReferenceLogitsTest checks Tessera against.
 */
class JlamaLogitsTest {
    /** The fixtures and their references, from this module's directory (bench/jlama-peer). */
    private static final Path FIXTURES = Path.of("../../pipeline/src/test/resources/models");
    /** |jlama - reference| <= TOLERANCE * (1 + |reference|): the bound ReferenceLogitsTest holds Tessera to. */
    private static final double TOLERANCE = 2e-5;

    @ParameterizedTest
    @ValueSource(strings = {"gpt2-tiny", "llama-tiny-plain"})
    void jlamasLogitsMatchTheFloat64Reference(String name, @TempDir Path tmp) throws Exception {
        Path view = JlamaDirectory.view(FIXTURES.resolve(name), tmp.resolve(name));
        Reference reference = Reference.read(FIXTURES.resolve(name + ".reference.safetensors"));
        AbstractModel model = ModelSupport.loadModel(AbstractModel.InferenceType.FULL_GENERATION, view.toFile(), null, DType.F32,
                DType.I8, Optional.empty(), Optional.empty(), Optional.empty(), JlamaDirectory::weights);
        int vocab = model.getConfig().vocabularySize;
        assertEquals(reference.vocab, vocab);
        double worst = 0;
        try (KvBufferCache caches = new KvBufferCache(model);
             KvBufferCache.KvBuffer kv = caches.getKvBuffer(UUID.randomUUID());
             AbstractTensor logits = model.makeDenseTensor(vocab)) {
            for (int position = 0; position < reference.ids.length; position++) {
                try (AbstractTensor out = model.forward((int) reference.ids[position], position, kv, Optional.empty())) {
                    model.sample(out, 0f, 0f, logits);
                }
                for (int v = 0; v < vocab; v++) {
                    double expected = reference.logits[position * vocab + v];
                    double error = Math.abs(logits.get(0, v) - expected) / (1 + Math.abs(expected));
                    worst = Math.max(worst, error);
                    assertTrue(error <= TOLERANCE, name + ": logit " + v + " at position " + position + " is " + logits.get(0, v)
                            + ", reference " + expected);
                }
            }
        } finally {
            model.close();
        }
        System.out.printf("%s: Jlama against the float64 reference, max relative error %.2e%n", name, worst);
    }

    /** A reference file's {@code ids} (I64 [t]) and {@code logits} (F64 [t, vocab]). */
    private record Reference(long[] ids, double[] logits, int vocab) {
        static Reference read(Path file) throws IOException {
            ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
            int headerLength = Math.toIntExact(bytes.getLong(0));
            JsonNode header = new ObjectMapper().readTree(new String(bytes.array(), Long.BYTES, headerLength, StandardCharsets.UTF_8));
            int data = Long.BYTES + headerLength;
            JsonNode ids = header.get("ids");
            JsonNode logits = header.get("logits");
            assertEquals("I64", ids.get("dtype").asText());
            assertEquals("F64", logits.get("dtype").asText());
            long[] idValues = new long[ids.get("shape").get(0).asInt()];
            for (int i = 0; i < idValues.length; i++) {
                idValues[i] = bytes.getLong(data + ids.get("data_offsets").get(0).asInt() + i * Long.BYTES);
            }
            int vocab = logits.get("shape").get(1).asInt();
            double[] logitValues = new double[idValues.length * vocab];
            for (int i = 0; i < logitValues.length; i++) {
                logitValues[i] = bytes.getDouble(data + logits.get("data_offsets").get(0).asInt() + i * Double.BYTES);
            }
            return new Reference(idValues, logitValues, vocab);
        }
    }
}
