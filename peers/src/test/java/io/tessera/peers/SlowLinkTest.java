package io.tessera.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.peers.wire.Encoding;
import io.tessera.peers.wire.Open;
import io.tessera.peers.wire.PeerGrpc;
import io.tessera.peers.wire.Step;
import io.tessera.peers.wire.WireTensor;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.DecoderCache;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.ModelConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A step whose message takes longer to cross a slow link than the stall timeout is not a stall: the liveness probes
 * travel on their own HTTP/2 stream, so they wait behind at most a flow-control window of the step's bytes, not the
 * whole message. (Before, the pings queued behind the step on the session stream and a large batch read as a frozen
 * server.)
 */
class SlowLinkTest {
    private static final ModelConfig CONFIG = ModelConfig.gpt2(64, 64, 2, 4, 192);
    private static final int WINDOW = 256 << 10;

    @TempDir
    Path tmp;

    @Test
    void aMessageSlowerThanTheStallTimeoutIsNotAStall() throws Exception {
        Path dir = Peers.writeModel(CONFIG, 3, tmp.resolve("model"));
        int batch = 64;
        int positions = 160; // f32: 2.6 MB each way, about 2.6 s at 8 Mbit/s; the window's 256 KiB take 0.26 s
        long[] ids = new SplittableRandom(5).longs((long) batch * positions, 0, CONFIG.vocabSize()).toArray();
        try (CausalLm local = HfCheckpoint.load(dir);
             LocalCluster cluster = LocalCluster.start(dir, new int[][] {{0, CONFIG.layers()}}, null,
                     new PeerServer.Config().flowControlWindow(WINDOW));
             DelayingProxy link = new DelayingProxy(cluster.servers().getFirst().port(), 8e6, 2);
             Registry registry = cluster.newRegistryClient();
             PeerClient client = new PeerClient(registry, local, new PeerClient.Config().flowControlWindow(WINDOW));
             GradMode off = GradMode.noGrad();
             TensorScope scope = TensorScope.open()) {
            Tensor hidden = local.embed(Tensor.of(ids, batch, positions), 0);
            PeerInfo server = cluster.servers().getFirst().info();
            long start = System.nanoTime();
            WireTensor result;
            try (HopSession session = HopSession.start(server, PeerGrpc.newStub(client.channelTo("127.0.0.1:" + link.port())),
                    Open.newBuilder().setFrom(0).setTo(CONFIG.layers()).setBatch(batch).setCapacity(positions).setEncoding(Encoding.F32)
                            .build(), PeerClient.DEFAULT_TIMING)) {
                result = session.run(List.of(Step.newBuilder().setPast(0).setHidden(WireTensors.encode(hidden, Encoding.F32)).build()))
                        .getFirst();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            assertTrue(seconds > 2 * PeerClient.DEFAULT_TIMING.stallTimeout().toSeconds(),
                    "the step took " + seconds + " s: not long enough to test the stall timeout");
            float[] expected;
            try (DecoderCache cache = local.newCache(batch, positions)) {
                expected = local.blocks(0, CONFIG.layers(), hidden, 0, cache).toFloatArray(); // as the server computes it
            }
            assertArrayEquals(expected, WireTensors.decode(result, CONFIG.hiddenSize()).toFloatArray(), "the blocks' output");
        }
    }
}
