package io.tessera.peers;

import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.HfCheckpointWriter;
import io.tessera.pipeline.models.ModelConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/** Test fixtures: tiny models written as Hugging Face directories, and a registry with servers on loopback. */
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

    /** A registry and one server per span, each with its own (memory-mapped) copy of the model in {@code dir}. */
    static final class Cluster implements AutoCloseable {
        final RegistryServer registry;
        final String registryAddress;
        final List<PeerServer> servers = new ArrayList<>();
        private final List<CausalLm> models = new ArrayList<>();
        private final List<Registry> clients = new ArrayList<>();
        private final String token;

        Cluster(Path dir, int[][] spans, String token, PeerServer.Config... configs) throws IOException {
            this.token = token;
            this.registry = RegistryServer.start("127.0.0.1", 0, token);
            this.registryAddress = "127.0.0.1:" + registry.port();
            try {
                for (int i = 0; i < spans.length; i++) {
                    PeerServer.Config config = configs.length > i ? configs[i] : new PeerServer.Config();
                    Registry client = new GrpcRegistry(registryAddress, token);
                    clients.add(client);
                    CausalLm model = HfCheckpoint.load(dir);
                    models.add(model);
                    servers.add(PeerServer.start(model, spans[i][0], spans[i][1],
                            config.token(token).registry(client, "", Duration.ofSeconds(1))));
                }
                await(() -> registry.servers().size() == spans.length, Duration.ofSeconds(5), "servers announced");
            } catch (IOException | RuntimeException e) {
                close();
                throw e;
            }
        }

        Registry newRegistryClient() {
            Registry client = new GrpcRegistry(registryAddress, token);
            clients.add(client);
            return client;
        }

        @Override
        public void close() {
            servers.forEach(PeerServer::close);
            models.forEach(CausalLm::close);
            clients.forEach(Registry::close);
            registry.close();
        }
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
