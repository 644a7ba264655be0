package io.tessera.peers;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
import io.tessera.pipeline.models.Sampler;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The layout of the PETALS table under emulated networks ({@link DelayingProxy}): decode steps/s at batch 1 after 128
 * and 2048 positions, parallel-forward tokens/s over 128 positions at batch 1 and 64, next to the local figures and
 * each row's floor (compute + round trips + bytes / bandwidth, measured in the same run), with 8-bit and with f32
 * activations on the emulated links. Only when asked:
 * {@code -Dtessera.peers.bench=true} (a few minutes).
 */
class NetworkBenchmarkTest {
    /**
     * A GPT-2 of hidden size 256 and 6 blocks, or with {@code -Dtessera.peers.bench.model=gpt2-small} GPT-2-small's
     * shape (12 x d768, vocab 50257), where compute outweighs the hops' fixed costs more as in PETALS' setting; 2100
     * positions either way, for the decode after 2048.
     */
    private static final ModelConfig CONFIG = "gpt2-small".equals(System.getProperty("tessera.peers.bench.model"))
            ? ModelConfig.gpt2(50257, 768, 12, 12, 2100) : ModelConfig.gpt2(1024, 256, 6, 4, 2100);
    /** Three servers, a third of the blocks each. */
    private static final int[][] SPANS = {{0, CONFIG.layers() / 3}, {CONFIG.layers() / 3, 2 * CONFIG.layers() / 3},
        {2 * CONFIG.layers() / 3, CONFIG.layers()}};
    private static final int DECODE_STEPS = 32;
    /**
     * An emulated link in front of every server, or none ({@link #DIRECT}: the servers' own loopback sockets), and how
     * hidden states cross it.
     */
    private record Network(String name, double bitsPerSecond, double rttMillis, Encoding encoding) {
        Network in(Encoding other) {
            return new Network(name, bitsPerSecond, rttMillis, other);
        }
    }

    /** No proxy: what the chain costs beyond compute with no network in the way (gRPC, the hops' hand-offs). */
    private static final Network DIRECT = new Network("loopback, no proxy", Double.POSITIVE_INFINITY, 0,
            Encoding.BLOCKWISE_INT8);
    /** The proxy with no delay and no bandwidth limit: what the emulation itself costs (its threads and extra sockets). */
    private static final Network PROXY_ONLY = new Network("loopback through the proxy, no delay", Double.POSITIVE_INFINITY,
            0, Encoding.BLOCKWISE_INT8);

    /** A registry that lists fixed servers (the proxies in front of them). */
    private record FixedRegistry(List<PeerInfo> servers) implements Registry {
        @Override
        public void announce(PeerInfo server, Duration ttl) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void withdraw(String id) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void close() {}
    }

    @TempDir
    Path tmp;

    @Test
    void petalsTable() throws Exception {
        assumeTrue(Boolean.getBoolean("tessera.peers.bench"), "the network benchmark runs with -Dtessera.peers.bench=true");
        Path dir = Peers.writeModel(CONFIG, 1, tmp.resolve("model"));
        List<Network> networks = new ArrayList<>(List.of(DIRECT, PROXY_ONLY));
        for (Network emulated : List.of(new Network("1 Gbit/s, 2 ms RTT", 1e9, 2, Encoding.BLOCKWISE_INT8),
                new Network("100 Mbit/s, 2 ms RTT", 1e8, 2, Encoding.BLOCKWISE_INT8),
                new Network("100 Mbit/s, 100 ms RTT", 1e8, 100, Encoding.BLOCKWISE_INT8))) {
            networks.add(emulated);
            networks.add(emulated.in(Encoding.F32));
        }
        List<String> rows = new ArrayList<>();
        try (CausalLm local = HfCheckpoint.load(dir); LocalCluster cluster = LocalCluster.start(dir, SPANS, null)) {
            decodeStepSeconds(local, 128); // warm-up: the JIT compiles the decode path first
            double[] localDecode = {best(3, () -> decodeStepSeconds(local, 128)), best(3, () -> decodeStepSeconds(local, 2048))};
            double[] localForward = {best(3, () -> forwardSeconds(local, 1)), best(3, () -> forwardSeconds(local, 64))};
            rows.add(String.format("| local, one process | | %.1f | %.1f | %.0f | %.0f | | |", 1 / localDecode[0], 1 / localDecode[1],
                    128 / localForward[0], 64 * 128 / localForward[1]));
            for (Network net : networks) {
                List<DelayingProxy> proxies = new ArrayList<>();
                List<PeerInfo> listed = new ArrayList<>();
                for (PeerServer server : cluster.servers()) {
                    PeerInfo info = server.info();
                    if (net == DIRECT) {
                        listed.add(info);
                        continue;
                    }
                    DelayingProxy proxy = new DelayingProxy(server.port(), net.bitsPerSecond(), net.rttMillis());
                    proxies.add(proxy);
                    listed.add(new PeerInfo(info.id(), "127.0.0.1:" + proxy.port(), info.from(), info.to(), info.throughput(), ""));
                }
                // the default liveness timing (1 s of silence is a stall) throughout: a false stall fails the benchmark
                try (PeerClient client = new PeerClient(new FixedRegistry(listed), local, new PeerClient.Config().encoding(net.encoding())
                        .flowControlWindow(Double.isInfinite(net.bitsPerSecond()) ? 1 << 20
                                : (int) Math.max(1 << 20, net.bitsPerSecond() / 8 * net.rttMillis() / 1e3 * 2)))) {
                    remoteDecodeSeconds(client, 128); // warm-up of the connections and the servers' decode path
                    int runs = net.rttMillis() < 10 ? 3 : 1; // a step at 100 ms RTT is all round trips: one run is steady
                    double[] decode = {best(runs, () -> remoteDecodeSeconds(client, 128)),
                        best(runs, () -> remoteDecodeSeconds(client, 2048))};
                    double[] forward = {remoteForwardSeconds(client, listed, local, 1, net.encoding()),
                        remoteForwardSeconds(client, listed, local, 64, net.encoding())};
                    double[] decodeFloor = {floor(localDecode[0], net, 1), floor(localDecode[1], net, 1)};
                    double[] forwardFloor = {floor(localForward[0], net, 128), floor(localForward[1], net, 64 * 128)};
                    rows.add(String.format("| %s | %s | %s | %s | %s | %s | %.0f%% | %.0f%% |", net.name(),
                            net.encoding() == Encoding.F32 ? "f32" : "8-bit",
                            rate(1, decode[0], decodeFloor[0]), rate(1, decode[1], decodeFloor[1]),
                            rate(128, forward[0], forwardFloor[0]), rate(64 * 128, forward[1], forwardFloor[1]),
                            100 * localDecode[0] / decode[0], 100 * localForward[0] / forward[0]));
                } finally {
                    for (DelayingProxy proxy : proxies) {
                        proxy.close();
                    }
                }
            }
        }
        System.out.printf("GPT-2 of %d blocks, hidden size %d, vocab %d; servers hold blocks %s%n", CONFIG.layers(), CONFIG.hiddenSize(),
                CONFIG.vocabSize(), Arrays.deepToString(SPANS));
        System.out.println("| network | activations | decode steps/s, 128 | decode steps/s, 2048 | forward tokens/s, batch 1"
                + " | forward tokens/s, batch 64 | decode kept (128) | forward kept (batch 1) |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        rows.forEach(System.out::println);
        System.out.printf("Activation bytes per position per hop and direction (hidden %d): 8-bit %d, f32 %d%n", CONFIG.hiddenSize(),
                wireBytesPerPosition(Encoding.BLOCKWISE_INT8), wireBytesPerPosition(Encoding.F32));
    }

    /** The shortest of {@code runs} measurements: a neighbour's burst on this shared machine costs a run, not the figure. */
    private static double best(int runs, DoubleSupplier seconds) {
        double best = Double.MAX_VALUE;
        for (int run = 0; run < runs; run++) {
            best = Math.min(best, seconds.getAsDouble());
        }
        return best;
    }

    /** {@code units} per second in {@code seconds}, its floor's rate, and the measured time over the floor. */
    private static String rate(double units, double seconds, double floorSeconds) {
        return String.format("%.1f (floor %.1f, %.2fx)", units / seconds, units / floorSeconds, seconds / floorSeconds);
    }

    /** A hidden state's bytes on the wire: 8-bit codes plus a float scale per block, or 4 bytes a unit. */
    private static long wireBytesPerPosition(Encoding encoding) {
        return encoding == Encoding.F32 ? 4 * CONFIG.hiddenSize() : CONFIG.hiddenSize() + CONFIG.hiddenSize() / WireTensors.BLOCK * 4;
    }

    /** Compute + a round trip per hop + each hop's bytes (both directions) over the bandwidth, for {@code positions}. */
    private static double floor(double computeSeconds, Network net, long positions) {
        double bytesPerHop = 2.0 * positions * wireBytesPerPosition(net.encoding());
        return computeSeconds + SPANS.length * (net.rttMillis() / 1e3 + bytesPerHop * 8 / net.bitsPerSecond());
    }

    /** Seconds per local decode step after {@code past} positions (the whole model, cached). */
    private static double decodeStepSeconds(CausalLm model, int past) {
        try (GradMode off = GradMode.noGrad(); DecoderCache cache = model.newCache(1, past + DECODE_STEPS + 1)) {
            try (TensorScope scope = TensorScope.open()) {
                model.forward(Tensor.of(new long[past], 1, past), cache);
            }
            long start = System.nanoTime();
            for (int i = 0; i < DECODE_STEPS; i++) {
                try (TensorScope scope = TensorScope.open()) {
                    model.forward(Tensor.of(new long[] {i % 7}, 1, 1), cache).toFloatArray();
                }
            }
            return (System.nanoTime() - start) / 1e9 / DECODE_STEPS;
        }
    }

    /** Seconds of one local forward over {@code batch} x 128 positions. */
    private static double forwardSeconds(CausalLm model, int batch) {
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            Tensor ids = Tensor.of(new long[batch * 128], batch, 128);
            model.forward(ids, null).toFloatArray(); // warm-up
            long start = System.nanoTime();
            model.forward(ids, null).toFloatArray();
            return (System.nanoTime() - start) / 1e9;
        }
    }

    /** Seconds per decode step through the chain after a prompt of {@code past} positions. */
    private static double remoteDecodeSeconds(PeerClient client, int past) {
        long[] times = new long[DECODE_STEPS + 2];
        client.generate(new long[past], DECODE_STEPS + 2, Sampler.greedy(), new long[0], null, (step, chain) -> times[step] =
                System.nanoTime());
        return (times[DECODE_STEPS + 1] - times[1]) / 1e9 / DECODE_STEPS;
    }

    /** Seconds of one forward over {@code batch} x 128 positions through sessions of that batch on every hop. */
    private static double remoteForwardSeconds(PeerClient client, List<PeerInfo> servers, CausalLm local, int batch,
            Encoding encoding) {
        double best = Double.MAX_VALUE;
        for (int run = 0; run < 2; run++) {
            List<HopSession> sessions = new ArrayList<>();
            try {
                long start = System.nanoTime();
                WireTensor wire;
                try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
                    wire = WireTensors.encode(local.embed(Tensor.of(new long[batch * 128], batch, 128), 0), encoding);
                }
                for (PeerInfo server : servers) {
                    HopSession session = HopSession.start(server, PeerGrpc.newStub(client.channelTo(server.address())),
                            Open.newBuilder().setFrom(server.from()).setTo(server.to()).setBatch(batch).setCapacity(128)
                                    .setEncoding(encoding).build(), PeerClient.DEFAULT_TIMING);
                    sessions.add(session);
                    wire = session.run(List.of(Step.newBuilder().setPast(0).setHidden(wire).build())).getFirst();
                }
                try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
                    local.head(WireTensors.decode(wire, CONFIG.hiddenSize())).toFloatArray();
                }
                best = Math.min(best, (System.nanoTime() - start) / 1e9);
            } finally {
                sessions.forEach(HopSession::close);
            }
        }
        return best;
    }
}
