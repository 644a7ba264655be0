package io.tessera.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.peers.wire.ClientMessage;
import io.tessera.peers.wire.Encoding;
import io.tessera.peers.wire.Open;
import io.tessera.peers.wire.ServerMessage;
import io.tessera.peers.wire.Step;
import io.tessera.peers.wire.WireTensor;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.Sampler;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Whatever a caller sends, a server answers with a status and keeps serving the others: a generation runs across
 * every refusal below and still gives the local ids; afterwards no session or cache is left.
 */
class PeerSecurityTest {
    private static final String TOKEN = "s3cret-token";
    private static final long HIDDEN = Peers.GPT2.hiddenSize();
    @TempDir
    static Path tmp;
    private static CausalLm local;
    private static LocalCluster cluster;

    @BeforeAll
    static void start() throws Exception {
        Path dir = Peers.writeModel(Peers.GPT2, 7, tmp.resolve("model"));
        local = HfCheckpoint.load(dir);
        // the middle server takes small messages only and has a small cache budget
        PeerServer.Config strict = new PeerServer.Config().maxMessageBytes(16 << 10).maxCacheBytes(60_000);
        cluster = LocalCluster.start(dir, new int[][] {{0, 1}, {1, 2}, {2, 3}}, TOKEN, new PeerServer.Config(), strict);
    }

    @AfterAll
    static void stop() {
        cluster.close();
        local.close();
    }

    private static int port(int server) {
        return cluster.servers().get(server).port();
    }

    private static ClientMessage open(int from, int to, long capacity) {
        return ClientMessage.newBuilder().setOpen(Open.newBuilder().setFrom(from).setTo(to).setBatch(1).setCapacity(capacity)
                .setEncoding(Encoding.F32)).build();
    }

    private static ClientMessage step(long past, WireTensor hidden) {
        return ClientMessage.newBuilder().setStep(Step.newBuilder().setId(past).setPast(past).setHidden(hidden)).build();
    }

    private static WireTensor hidden(long t, long width) {
        try (TensorScope scope = TensorScope.open()) {
            return WireTensors.encode(Tensor.zeros(1, t, width), Encoding.F32);
        }
    }

    /** The status a fresh session on the middle server ends with after Open and {@code bad}. */
    private static Status refusal(Function<RawSession, RawSession> bad) throws InterruptedException {
        try (RawSession session = new RawSession(port(1), TOKEN)) {
            return bad.apply(session.send(open(1, 2, 16))).status();
        }
    }

    @Test
    void everyRefusalIsAStatusWhileAnotherSessionKeepsGenerating() throws Exception {
        long[] prompt = {1, 2, 3, 4};
        long[] expected = Generator.generate(local, prompt, 12, true).ids();
        List<Status> statuses = new ArrayList<>();
        try (Registry registry = cluster.newRegistryClient();
             PeerClient client = new PeerClient(registry, local, Peers.patientClient().token(TOKEN).encoding(Encoding.F32))) {
            PeerClient.Generation generation = client.generate(prompt, 12, Sampler.greedy(), new long[0], null, (step, chain) -> {
                try {
                    statuses.add(refusalAt(step));
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            });
            assertArrayEquals(expected, generation.ids());
        }
        List<Status.Code> codes = new ArrayList<>(statuses.stream().map(Status::getCode).toList());
        // the oversized message: the server ends the stream with RESOURCE_EXHAUSTED, but its transport may reset the
        // stream (CANCELLED) before the client reads that status
        assertTrue(Set.of(Status.Code.RESOURCE_EXHAUSTED, Status.Code.CANCELLED).contains(codes.set(8, null)), statuses.toString());
        assertEquals(Arrays.asList(Status.Code.UNAUTHENTICATED, Status.Code.UNAUTHENTICATED, Status.Code.FAILED_PRECONDITION,
                Status.Code.INVALID_ARGUMENT, Status.Code.INVALID_ARGUMENT, Status.Code.INVALID_ARGUMENT, Status.Code.INVALID_ARGUMENT,
                Status.Code.INVALID_ARGUMENT, null, Status.Code.RESOURCE_EXHAUSTED, Status.Code.INVALID_ARGUMENT, Status.Code.OK), codes,
                statuses.toString());
        for (PeerServer server : cluster.servers()) {
            Peers.await(() -> server.liveSessions() == 0 && server.cacheBytes() == 0, Duration.ofSeconds(5), "release on " + server.info());
        }
    }

    /** One kind of abuse per step of the generation. */
    private static Status refusalAt(int step) throws InterruptedException {
        return switch (step) {
            case 0 -> { // no token
                try (RawSession session = new RawSession(port(1), null)) {
                    yield session.send(open(1, 2, 16)).status();
                }
            }
            case 1 -> { // a wrong token of the same length
                try (RawSession session = new RawSession(port(1), TOKEN.replace('s', 'z'))) {
                    yield session.send(open(1, 2, 16)).status();
                }
            }
            case 2 -> { // a step on a stream without a session
                try (RawSession session = new RawSession(port(1), TOKEN)) {
                    yield session.send(step(0, hidden(1, HIDDEN))).status();
                }
            }
            case 3 -> refusal(s -> s.send(step(0, hidden(1, HIDDEN + 1)))); // wrong hidden size
            case 4 -> refusal(s -> s.send(step(0, hidden(1, HIDDEN).toBuilder().setData(ByteString.copyFrom(new byte[7])).build())));
            case 5 -> refusal(s -> s.send(step(3, hidden(1, HIDDEN)))); // a position the session does not hold
            case 6 -> refusal(s -> s.send(step(0, hidden(1, HIDDEN).toBuilder().setEncoding(Encoding.BLOCKWISE_INT8).setBlock(0)
                    .build()))); // malformed 8-bit tensor
            case 7 -> { // non-finite values
                float[] nan = new float[(int) HIDDEN];
                nan[5] = Float.NaN;
                try (TensorScope scope = TensorScope.open()) {
                    WireTensor bad = WireTensors.encode(Tensor.of(nan, 1, 1, HIDDEN), Encoding.F32);
                    yield refusal(s -> s.send(step(0, bad)));
                }
            }
            case 8 -> { // 25 kB: over the 16 kB message limit; the transport may reset the stream before the status arrives
                yield refusal(s -> s.send(step(0, hidden(200, HIDDEN))));
            }
            case 9 -> { // a second cache of 49 kB beyond the server's 60 kB budget
                try (RawSession first = new RawSession(port(1), TOKEN); RawSession second = new RawSession(port(1), TOKEN)) {
                    assertInstanceOf(ServerMessage.class, first.send(open(1, 2, 192)).next());
                    yield second.send(open(1, 2, 192)).status();
                }
            }
            case 10 -> { // blocks the server does not hold
                try (RawSession session = new RawSession(port(1), TOKEN)) {
                    yield session.send(open(0, 2, 16)).status();
                }
            }
            default -> Status.OK;
        };
    }

    @Test
    void idleSessionsAndVanishedClientsAreReleased() throws Exception {
        try (LocalCluster impatient = LocalCluster.start(tmp.resolve("model"), new int[][] {{0, 3}}, TOKEN,
                new PeerServer.Config().idleTimeout(Duration.ofMillis(600)))) {
            PeerServer server = impatient.servers().getFirst();
            try (RawSession idle = new RawSession(server.port(), TOKEN)) {
                idle.send(open(1, 2, 16));
                assertInstanceOf(ServerMessage.class, idle.next());
                assertTrue(server.cacheBytes() > 0);
                long start = System.nanoTime();
                assertEquals(Status.Code.DEADLINE_EXCEEDED, idle.status().getCode());
                assertTrue(System.nanoTime() - start < Duration.ofSeconds(3).toNanos());
            }
            Peers.await(() -> server.liveSessions() == 0 && server.cacheBytes() == 0, Duration.ofSeconds(5), "idle session released");
        }
        PeerServer server = cluster.servers().getFirst();
        RawSession vanishing = new RawSession(server.port(), TOKEN);
        vanishing.send(open(0, 1, 16));
        assertInstanceOf(ServerMessage.class, vanishing.next());
        assertEquals(1, server.liveSessions());
        vanishing.vanish();
        Peers.await(() -> server.liveSessions() == 0 && server.cacheBytes() == 0, Duration.ofSeconds(5),
                "a vanished client's session released");
    }

    @Test
    void theRegistryRefusesServersWithoutTheToken() {
        PeerInfo intruder = new PeerInfo("intruder", "127.0.0.1:1", 0, 3, 1e9, "");
        try (Registry unauthenticated = new GrpcRegistry(cluster.registryAddress(), null);
             Registry wrong = new GrpcRegistry(cluster.registryAddress(), "not-the-token")) {
            PeerException refused = assertThrows(PeerException.class, () -> unauthenticated.announce(intruder, Duration.ofSeconds(5)));
            assertTrue(refused.getMessage().contains("UNAUTHENTICATED"), refused.getMessage());
            assertThrows(PeerException.class, () -> wrong.announce(intruder, Duration.ofSeconds(5)));
            assertThrows(PeerException.class, unauthenticated::servers);
        }
        assertTrue(cluster.newRegistryClient().servers().stream().noneMatch(s -> s.id().equals("intruder")));
    }
}
