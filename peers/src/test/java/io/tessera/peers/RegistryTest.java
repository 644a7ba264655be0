package io.tessera.peers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class RegistryTest {
    @Test
    void entriesExpireWithoutHeartbeatsAndLiveWithThem() throws Exception {
        try (RegistryServer server = RegistryServer.start("127.0.0.1", 0, null);
             Registry registry = new GrpcRegistry("127.0.0.1:" + server.port(), null)) {
            PeerInfo dead = new PeerInfo("dead", "127.0.0.1:1", 0, 2, 10, "");
            PeerInfo alive = new PeerInfo("alive", "127.0.0.1:2", 2, 4, 10, "");
            registry.announce(dead, Duration.ofMillis(300));
            assertEquals(List.of("dead"), registry.servers().stream().map(PeerInfo::id).toList());
            long deadline = System.nanoTime() + Duration.ofMillis(2000).toNanos();
            while (System.nanoTime() < deadline) {
                registry.announce(alive, Duration.ofMillis(1500));
                sleep(100);
            }
            assertEquals(List.of(alive), registry.servers());
            registry.withdraw("alive");
            assertTrue(registry.servers().isEmpty());
        }
    }

    @Test
    void badAnnouncementsAreRefused() throws Exception {
        try (RegistryServer server = RegistryServer.start("127.0.0.1", 0, null);
             Registry registry = new GrpcRegistry("127.0.0.1:" + server.port(), null)) {
            PeerInfo info = new PeerInfo("a", "127.0.0.1:1", 0, 2, 10, "");
            PeerException tooLong = assertThrows(PeerException.class, () -> registry.announce(info, Duration.ofHours(1)));
            assertTrue(tooLong.getMessage().contains("ttl_millis"), tooLong.getMessage());
            assertThrows(IllegalArgumentException.class, () -> new PeerInfo("b", "127.0.0.1:1", 2, 2, 10, ""));
            assertTrue(registry.servers().isEmpty());
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
