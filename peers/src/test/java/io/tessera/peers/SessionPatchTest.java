package io.tessera.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.tessera.engine.Tensor;
import io.tessera.peers.wire.ClientMessage;
import io.tessera.peers.wire.Encoding;
import io.tessera.peers.wire.Open;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.Sampler;
import io.tessera.sparse.Compression;
import io.tessera.sparse.ModelDigest;
import io.tessera.sparse.Patch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A session with a sparse patch and one without, at the same time, on the same servers. */
class SessionPatchTest {
    private static final long[] PROMPT = {5, 8, 13, 21, 34};
    private static final int NEW_TOKENS = 16;

    @Test
    void patchedAndUnpatchedSessionsGetThePatchedAndUnpatchedModels(@TempDir Path tmp) throws Exception {
        Path dir = Peers.writeModel(Peers.LLAMA_GQA, 3, tmp.resolve("model"));
        try (CausalLm local = HfCheckpoint.load(dir);
             LocalCluster cluster = LocalCluster.start(dir, new int[][] {{0, 2}, {2, 3}}, null);
             Registry registry = cluster.newRegistryClient();
             PeerClient client = new PeerClient(registry, local, Peers.patientClient().encoding(Encoding.F32))) {
            Map<String, Tensor> base = local.stateDict();
            Patch patch = Patch.diff(base, perturbed(base, firstOfBlock1(base)), "test patch");
            Path file = tmp.resolve("session.patch");
            patch.save(file, Compression.ZSTD);
            byte[] patchFile = Files.readAllBytes(file);
            long[] unpatchedIds = Generator.generate(local, PROMPT, NEW_TOKENS, true).ids();
            long[] patchedIds;
            try (CausalLm patchedLocal = CausalLm.create(Peers.LLAMA_GQA, 0)) {
                patchedLocal.loadStateDict(patch.apply(base), true);
                patchedIds = Generator.generate(patchedLocal, PROMPT, NEW_TOKENS, true).ids();
            }
            assertFalse(Arrays.equals(unpatchedIds, patchedIds), "the patch must change the output for this test to mean anything");
            String[] digests = cluster.servers().stream().map(s -> ModelDigest.of(s.model().stateDict())).toArray(String[]::new);

            CompletableFuture<long[]> withPatch = CompletableFuture.supplyAsync(() -> client.generate(PROMPT, NEW_TOKENS,
                    Sampler.greedy(), new long[0], patchFile, null).ids());
            CompletableFuture<long[]> without = CompletableFuture.supplyAsync(() -> client.generate(PROMPT, NEW_TOKENS).ids());
            assertArrayEquals(patchedIds, withPatch.get());
            assertArrayEquals(unpatchedIds, without.get());

            assertArrayEquals(unpatchedIds, client.generate(PROMPT, NEW_TOKENS).ids(), "the shared weights are untouched");
            assertArrayEquals(digests, cluster.servers().stream().map(s -> ModelDigest.of(s.model().stateDict())).toArray(String[]::new));

            // a patch of another model is refused with a status, the server keeps its cache budget
            try (CausalLm other = CausalLm.create(Peers.LLAMA_GQA, 99)) {
                Map<String, Tensor> otherBase = other.stateDict();
                Patch foreign = Patch.diff(otherBase, perturbed(otherBase, firstOfBlock1(otherBase)), "foreign");
                Path foreignFile = tmp.resolve("foreign.patch");
                foreign.save(foreignFile, Compression.NONE);
                try (RawSession session = new RawSession(cluster.servers().get(0).port(), null)) {
                    Status status = session.send(ClientMessage.newBuilder().setOpen(Open.newBuilder().setFrom(0).setTo(2).setBatch(1)
                            .setCapacity(32).setPatch(ByteString.copyFrom(Files.readAllBytes(foreignFile)))).build()).status();
                    assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
                }
            }
            for (PeerServer server : cluster.servers()) {
                Peers.await(() -> server.liveSessions() == 0 && server.cacheBytes() == 0, Duration.ofSeconds(5), "released");
            }
        }
    }

    /**
     * Servers with int8 projections: the patch (on the float model) runs in float on the touched entries of an int8
     * layer for its session only; the reference is the local int8 model patched the same way. GPT-2, whose head is
     * its (float) embedding, so the client's float head is the local int8 model's too.
     */
    @Test
    void onInt8SpansThePatchRunsInFloatOnTheTouchedEntriesOfItsSessionOnly(@TempDir Path tmp) throws Exception {
        Path dir = Peers.writeModel(Peers.GPT2, 3, tmp.resolve("model"));
        try (CausalLm local = HfCheckpoint.load(dir);
             CausalLm localInt8 = HfCheckpoint.load(dir, QuantizationConfig.defaults());
             LocalCluster cluster = LocalCluster.start(dir, new int[][] {{0, 2}, {2, 3}}, null,
                     new PeerServer.Config().quantizedFrom(dir), new PeerServer.Config().quantizedFrom(dir));
             Registry registry = cluster.newRegistryClient();
             PeerClient client = new PeerClient(registry, local, Peers.patientClient().encoding(Encoding.F32))) {
            Map<String, Tensor> base = local.stateDict();
            // an int8 projection of block 1 (a server's) and the token embedding (the client's)
            Patch patch = Patch.diff(base, perturbed(base, "h.1.mlp.c_fc.weight"), "int8 test patch");
            Path file = tmp.resolve("session.patch");
            patch.save(file, Compression.ZSTD);
            byte[] patchFile = Files.readAllBytes(file);
            long[] unpatchedIds = Generator.generate(localInt8, PROMPT, NEW_TOKENS, true).ids();
            long[] patchedIds;
            try (CausalLm patchedLocal = new SessionPatches(localInt8, dir).patched(patch, block -> true)) {
                patchedIds = Generator.generate(patchedLocal, PROMPT, NEW_TOKENS, true).ids();
            }
            assertFalse(Arrays.equals(unpatchedIds, patchedIds), "the patch must change the output for this test to mean anything");
            String[] digests = cluster.servers().stream().map(s -> ModelDigest.of(s.model().stateDict())).toArray(String[]::new);

            CompletableFuture<long[]> withPatch = CompletableFuture.supplyAsync(() -> client.generate(PROMPT, NEW_TOKENS,
                    Sampler.greedy(), new long[0], patchFile, null).ids());
            CompletableFuture<long[]> without = CompletableFuture.supplyAsync(() -> client.generate(PROMPT, NEW_TOKENS).ids());
            assertArrayEquals(patchedIds, withPatch.get());
            assertArrayEquals(unpatchedIds, without.get());
            assertArrayEquals(digests, cluster.servers().stream().map(s -> ModelDigest.of(s.model().stateDict())).toArray(String[]::new),
                    "the shared int8 codes are untouched");
            for (PeerServer server : cluster.servers()) {
                Peers.await(() -> server.liveSessions() == 0 && server.cacheBytes() == 0, Duration.ofSeconds(5), "released");
            }
        }
    }

    private static String firstOfBlock1(Map<String, Tensor> base) {
        return base.keySet().stream().filter(n -> SessionPatches.blockOf(n) == 1).findFirst().orElseThrow();
    }

    /** Base with every tenth entry of the token embedding (client side) and of tensor {@code block} (a server's) shifted. */
    private static Map<String, Tensor> perturbed(Map<String, Tensor> base, String block) {
        String embedding = base.keySet().stream().filter(n -> SessionPatches.blockOf(n) < 0).findFirst().orElseThrow();
        Map<String, Tensor> tuned = new LinkedHashMap<>(base);
        for (String name : new String[] {block, embedding}) {
            Tensor t = base.get(name);
            float[] values = t.toFloatArray();
            for (int i = 0; i < values.length; i += 10) {
                values[i] += 0.75f;
            }
            tuned.put(name, Tensor.of(values, t.shape()));
        }
        return tuned;
    }
}
