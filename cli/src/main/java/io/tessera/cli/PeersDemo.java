package io.tessera.cli;

import io.tessera.peers.LocalCluster;
import io.tessera.peers.PeerClient;
import io.tessera.peers.wire.Encoding;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.HfCheckpointWriter;
import io.tessera.pipeline.models.ModelConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Base64;

/**
 * The demo's last stage: a GPT-2-shape decoder (random weights; no pretrained ones can be downloaded here) served as
 * three spans of blocks by three peers on loopback gRPC, with a registry, generating next to the same model run locally.
 */
final class PeersDemo {
    private static final ModelConfig CONFIG = ModelConfig.gpt2(50257, 256, 6, 8, 1024);
    private static final int[][] SPANS = {{0, 2}, {2, 4}, {4, 6}};
    private static final long[] PROMPT = {464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290};
    private static final int NEW_TOKENS = 32;

    private PeersDemo() {}

    static void run(PrintWriter out, Path workDir) throws IOException {
        out.printf("== stage 7: a GPT-2-shape model (%d blocks, d %d, vocab %,d, random weights) served by %d peers on loopback%n",
                CONFIG.layers(), CONFIG.hiddenSize(), CONFIG.vocabSize(), SPANS.length);
        Path dir = workDir.resolve("gpt2-peers");
        try (CausalLm model = CausalLm.create(CONFIG, 7)) {
            HfCheckpointWriter.save(model, dir, 1);
        }
        byte[] secret = new byte[24];
        new SecureRandom().nextBytes(secret);
        String token = Base64.getEncoder().encodeToString(secret);
        try (CausalLm local = HfCheckpoint.load(dir); LocalCluster cluster = LocalCluster.start(dir, SPANS, token)) {
            long start = System.nanoTime();
            long[] expected = Generator.generate(local, PROMPT, NEW_TOKENS, true).ids();
            out.printf("   local, one process: %d greedy tokens in %.2f s%n", NEW_TOKENS, (System.nanoTime() - start) / 1e9);
            for (Encoding encoding : new Encoding[] {Encoding.F32, Encoding.BLOCKWISE_INT8}) {
                try (PeerClient client = new PeerClient(cluster.newRegistryClient(), local,
                        new PeerClient.Config().token(token).encoding(encoding))) {
                    start = System.nanoTime();
                    PeerClient.Generation g = client.generate(PROMPT, NEW_TOKENS);
                    int same = 0;
                    while (same < NEW_TOKENS && g.ids()[same] == expected[same]) {
                        same++;
                    }
                    out.printf("   through the peers, %s activations: %d tokens in %.2f s, %d of %d ids equal to local "
                            + "(the first difference ends the count), %.0f bytes per token per hop%n",
                            encoding == Encoding.F32 ? "f32" : "8-bit", NEW_TOKENS, (System.nanoTime() - start) / 1e9, same,
                            NEW_TOKENS, g.bytesPerTokenPerHop());
                }
            }
        }
    }
}
