package io.tessera.peers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Both registries, the embedded one and etcd, against the same expectations. */
class RegistryTest {
    private static final String KINDS = "io.tessera.peers.TestRegistry#kinds";

    @ParameterizedTest(name = "{0}")
    @MethodSource(KINDS)
    void entriesExpireWithoutHeartbeatsAndLiveWithThem(String kind) throws Exception {
        try (TestRegistry running = TestRegistry.start(kind, null); Registry registry = Registry.connect(running.address(), null, null)) {
            PeerInfo dead = new PeerInfo("dead", "127.0.0.1:1", 0, 2, 10, "");
            PeerInfo alive = new PeerInfo("alive", "127.0.0.1:2", 2, 4, 10, "m");
            registry.announce(dead, Duration.ofMillis(1500));
            assertEquals(List.of(dead), registry.servers());
            // etcd rounds a lease up to whole seconds, at least its minimum (2 s): 5 s outlives both
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (System.nanoTime() < deadline) {
                registry.announce(alive, Duration.ofMillis(1500));
                sleep(100);
            }
            assertEquals(List.of(alive), registry.servers());
            registry.withdraw("alive");
            assertTrue(registry.servers().isEmpty());
            // announcing after a withdrawal lists the server again
            registry.announce(alive, Duration.ofMillis(1500));
            assertEquals(List.of(alive), registry.servers());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource(KINDS)
    void badAnnouncementsAreRefused(String kind) throws Exception {
        try (TestRegistry running = TestRegistry.start(kind, null); Registry registry = Registry.connect(running.address(), null, null)) {
            PeerInfo info = new PeerInfo("a", "127.0.0.1:1", 0, 2, 10, "");
            PeerException tooLong = assertThrows(PeerException.class, () -> registry.announce(info, Duration.ofHours(1)));
            assertTrue(tooLong.getMessage().contains("ttl must be in [1, 60000] ms"), tooLong.getMessage());
            assertThrows(PeerException.class, () -> registry.announce(info, Duration.ZERO));
            assertThrows(IllegalArgumentException.class, () -> new PeerInfo("b", "127.0.0.1:1", 2, 2, 10, ""));
            assertTrue(registry.servers().isEmpty());
        }
    }

    /** A server process killed with SIGKILL (no withdrawal) leaves the registry when its entry expires. */
    @ParameterizedTest(name = "{0}")
    @MethodSource(KINDS)
    void aKilledServerIsGoneWithinSeconds(String kind, @TempDir Path tmp) throws Exception {
        Path dir = Peers.writeModel(Peers.GPT2, 5, tmp.resolve("model"));
        try (TestRegistry running = TestRegistry.start(kind, null); Registry registry = Registry.connect(running.address(), null, null)) {
            Process server = PeerServerMain.launch(dir, 0, 3, running.address());
            try {
                String address = "127.0.0.1:" + PeerServerMain.awaitReady(server);
                Peers.await(() -> registry.servers().stream().anyMatch(s -> s.address().equals(address)), Duration.ofSeconds(30),
                        "the server announced to the " + kind + " registry");
                long killed = System.nanoTime();
                server.destroyForcibly().waitFor();
                Peers.await(() -> registry.servers().isEmpty(), Duration.ofSeconds(10), "the killed server gone from the registry");
                double seconds = (System.nanoTime() - killed) / 1e9;
                System.out.printf("%s registry: a server killed (SIGKILL; heartbeat 0.5 s, ttl 1.5 s) was gone after %.2f s%n",
                        kind, seconds);
                assertTrue(seconds < 5, "gone after " + seconds + " s");
            } finally {
                server.destroyForcibly().waitFor();
            }
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
