package io.tessera.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.peers.wire.ClientMessage;
import io.tessera.peers.wire.Encoding;
import io.tessera.peers.wire.Open;
import io.tessera.peers.wire.ServerMessage;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.ModelConfig;
import io.tessera.pipeline.models.Sampler;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Greedy generation through three servers on loopback against local single-process generation, for GPT-2 and for
 * LLaMA with grouped-query attention, the servers found through either registry.
 */
class ChainGenerationTest {
    private static final long[] PROMPT = {3, 14, 15, 9, 26, 5, 35};
    private static final int NEW_TOKENS = 24;

    static Stream<Arguments> models() {
        return TestRegistry.kinds().flatMap(kind -> Stream.of(Arguments.of("gpt2", Peers.GPT2, kind),
                Arguments.of("llama-gqa", Peers.LLAMA_GQA, kind)));
    }

    @ParameterizedTest(name = "{0}, {2} registry")
    @MethodSource("models")
    void chainOfThreeServersGivesTheLocalIdsAndReleasesEverything(String name, ModelConfig config, String kind, @TempDir Path tmp)
            throws Exception {
        Path dir = Peers.writeModel(config, 11, tmp.resolve(name));
        try (CausalLm local = HfCheckpoint.load(dir);
             TestRegistry running = TestRegistry.start(kind, "secret");
             LocalCluster cluster = LocalCluster.start(running.address(), dir, new int[][] {{0, 1}, {1, 2}, {2, 3}}, "secret");
             Registry registry = cluster.newRegistryClient()) {
            Generator.Generation expected = Generator.generate(local, PROMPT, NEW_TOKENS, true);
            PeerClient.Generation f32;
            PeerClient.Generation int8;
            try (PeerClient client = new PeerClient(registry, local, Peers.patientClient().token("secret").encoding(Encoding.F32))) {
                f32 = client.generate(PROMPT, NEW_TOKENS);
            }
            try (PeerClient client = new PeerClient(registry, local, Peers.patientClient().token("secret"))) {
                int8 = client.generate(PROMPT, NEW_TOKENS);
            }
            PeerClient.Generation chunked;
            long chunkBytes = 3 * config.hiddenSize() * Float.BYTES;
            try (PeerClient client = new PeerClient(registry, local, Peers.patientClient().token("secret").encoding(Encoding.F32)
                    .prefillChunkBytes(chunkBytes))) {
                chunked = client.generate(PROMPT, NEW_TOKENS);
            }
            // the prompt in chunks of 3 positions: the keys and values come from other matrix shapes than local prefill's
            assertArrayEquals(expected.ids(), chunked.ids(), "prefill in chunks");
            assertTrue(maxError(expected.logits(), chunked.logits(), NEW_TOKENS) < 1e-4);
            assertArrayEquals(expected.ids(), f32.ids(), "f32 activations: the ids of local generation");
            // the rows that decided each new token: positions prompt - 1 .. prompt + new - 2 of local generation
            double f32Error = maxError(expected.logits(), f32.logits(), f32.logits().length);
            assertEquals(0, f32Error, "f32 activations: the local logits exactly");
            int agree = 0;
            while (agree < NEW_TOKENS && expected.ids()[agree] == int8.ids()[agree]) {
                agree++;
            }
            double int8Error = maxError(expected.logits(), int8.logits(), Math.min(agree + 1, NEW_TOKENS));
            System.out.printf("%s: 8-bit activations: %d of %d ids equal to local, max |logit error| %.3g over the %d rows with"
                    + " the local prefix; wire bytes per token per hop: f32 %.0f, int8 %.0f (hidden %d)%n", name, agree, NEW_TOKENS,
                    int8Error, Math.min(agree + 1, NEW_TOKENS), f32.bytesPerTokenPerHop(), int8.bytesPerTokenPerHop(), config.hiddenSize());
            assertTrue(int8Error < 0.05, "8-bit activations: logit error " + int8Error);
            // the prompt goes once, then each new token but the last: 4 bytes per unit in f32, 1 plus a 4-byte scale per
            // 64 values in 8 bits
            long h = config.hiddenSize();
            assertEquals((PROMPT.length + NEW_TOKENS - 1) * h * 4.0 / NEW_TOKENS, f32.bytesPerTokenPerHop(), 1e-9);
            assertEquals((int8Bytes(PROMPT.length * h) + (NEW_TOKENS - 1) * int8Bytes(h)) / (double) NEW_TOKENS,
                    int8.bytesPerTokenPerHop(), 1e-9);
            for (PeerServer server : cluster.servers()) {
                Peers.await(() -> server.liveSessions() == 0 && server.cacheBytes() == 0, Duration.ofSeconds(5),
                        "sessions released on " + server.info());
            }
        }
    }

    /**
     * Servers whose sessions hold F16 KV caches (tessera serve --kv-cache f16) give, with F32 activations, the ids and
     * logits of local generation over an F16 cache exactly, and reserve half the bytes per session.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("halfCacheModels")
    void serversWithF16CachesGiveTheLocalF16CachedGeneration(String name, ModelConfig config, @TempDir Path tmp) throws Exception {
        Path dir = Peers.writeModel(config, 11, tmp.resolve(name));
        PeerServer.Config[] half = {new PeerServer.Config().kvCache(DType.F16), new PeerServer.Config().kvCache(DType.F16)};
        try (CausalLm local = HfCheckpoint.load(dir);
             LocalCluster cluster = LocalCluster.start(dir, new int[][] {{0, 2}, {2, 3}}, "secret", half);
             Registry registry = cluster.newRegistryClient()) {
            Generator.Generation expected = Generator.generate(local, new long[][] {PROMPT}, NEW_TOKENS,
                    new Sampler[] {Sampler.greedy()}, new long[0], true, DType.F16).get(0);
            Generator.Generation f32Cache = Generator.generate(local, PROMPT, NEW_TOKENS, true);
            PeerClient.Generation chain;
            try (PeerClient client = new PeerClient(registry, local, Peers.patientClient().token("secret").encoding(Encoding.F32))) {
                chain = client.generate(PROMPT, NEW_TOKENS);
            }
            assertArrayEquals(expected.ids(), chain.ids());
            assertEquals(0, maxError(expected.logits(), chain.logits(), chain.logits().length), "the local F16-cached logits");
            assertTrue(maxError(f32Cache.logits(), chain.logits(), chain.logits().length) > 0, "an F16 cache rounds");
            try (RawSession session = new RawSession(cluster.servers().get(0).port(), "secret")) {
                Object reply = session.send(ClientMessage.newBuilder().setOpen(Open.newBuilder().setFrom(0).setTo(2).setBatch(1)
                        .setCapacity(10).setEncoding(Encoding.F32)).build()).next();
                long bytes = 2L * 2 * config.kvHeads() * 10 * config.headDim() * 2; // 2 layers, keys and values, 2 bytes each
                assertEquals(bytes, ((ServerMessage) reply).getOpened().getCacheBytes(), reply.toString());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new PeerServer.Config().kvCache(DType.BF16));
    }

    static Stream<Arguments> halfCacheModels() {
        return Stream.of(Arguments.of("gpt2", Peers.GPT2), Arguments.of("llama-gqa", Peers.LLAMA_GQA));
    }

    private static long int8Bytes(long values) {
        return values + (values + 63) / 64 * 4;
    }

    private static double maxError(float[][] localRows, float[][] chainRows, int rows) {
        int offset = PROMPT.length - 1;
        double max = 0;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < chainRows[i].length; j++) {
                max = Math.max(max, Math.abs((double) localRows[offset + i][j] - chainRows[i][j]));
            }
        }
        return max;
    }
}
