package io.tessera.peers;

import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfCheckpointWriter;
import io.tessera.pipeline.models.ModelConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Test fixtures: tiny models written as Hugging Face directories, and waiting for a condition. */
final class Peers {
    static final ModelConfig GPT2 = ModelConfig.gpt2(64, 32, 3, 4, 192);
    /** LLaMA with grouped-query attention: 4 query heads share 2 key/value heads. */
    static final ModelConfig LLAMA_GQA = ModelConfig.llama(64, 32, 48, 3, 4, 2, 192);

    private Peers() {}

    /** {@code config} with weights from {@code seed}, written to {@code dir}. */
    static Path writeModel(ModelConfig config, long seed, Path dir) throws IOException {
        try (CausalLm model = CausalLm.create(config, seed)) {
            HfCheckpointWriter.save(model, dir, 1);
        }
        return dir;
    }

    /**
     * A client that suspects a stall only after 10 s of silence: with one server per span a false suspicion (a peer
     * starved of CPU on a loaded machine) would fail the generation; the fault tests keep the 1 s default.
     */
    static PeerClient.Config patientClient() {
        return new PeerClient.Config().timing(Duration.ofMillis(200), Duration.ofSeconds(10), Duration.ofSeconds(60));
    }

    /** Waits until {@code condition} holds. @throws AssertionError naming {@code what} after {@code timeout} */
    static void await(BooleanSupplier condition, Duration timeout, String what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for: " + what);
            }
        }
    }
}
