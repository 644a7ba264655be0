package io.tessera.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.engine.HostStorage;
import io.tessera.peers.wire.Encoding;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.HfCheckpoint;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Eight concurrent sessions generating back to back on three servers (20 s by default, see peers/pom.xml;
 * {@code -Dtessera.peers.loadSeconds=120} for the acceptance's 2 minutes): every generation correct, and afterwards no
 * session or KV cache left on any server (their own counters) and no native host memory (the runtime's counter).
 */
class LoadTest {
    private static final int SESSIONS = 8;
    private static final int NEW_TOKENS = 12;

    @Test
    void eightConcurrentSessionsLeaveNothingBehind(@TempDir Path tmp) throws Exception {
        long seconds = Long.getLong("tessera.peers.loadSeconds", 20);
        Path dir = Peers.writeModel(Peers.GPT2, 4, tmp.resolve("model"));
        try (CausalLm local = HfCheckpoint.load(dir);
             LocalCluster cluster = LocalCluster.start(dir, new int[][] {{0, 1}, {1, 2}, {2, 3}}, null);
             Registry registry = cluster.newRegistryClient();
             PeerClient f32 = new PeerClient(registry, local, Peers.patientClient().encoding(Encoding.F32));
             PeerClient int8 = new PeerClient(registry, local, Peers.patientClient())) {
            long[][] prompts = new long[SESSIONS][];
            long[][] expected = new long[SESSIONS][];
            for (int i = 0; i < SESSIONS; i++) {
                prompts[i] = new long[] {i + 1, 2 * i + 3, 40 - i};
                // even sessions send f32 (the local ids), odd ones 8 bits (the ids of their first run, every time)
                expected[i] = i % 2 == 0 ? Generator.generate(local, prompts[i], NEW_TOKENS, true).ids()
                        : int8.generate(prompts[i], NEW_TOKENS).ids();
            }
            for (PeerServer server : cluster.servers()) {
                Peers.await(() -> server.liveSessions() == 0, Duration.ofSeconds(5), "warm-up sessions released");
            }
            long baseline = HostStorage.liveBytes();
            long end = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
            ExecutorService pool = Executors.newFixedThreadPool(SESSIONS);
            List<Future<Integer>> runs = new ArrayList<>();
            for (int i = 0; i < SESSIONS; i++) {
                int session = i;
                runs.add(pool.submit(() -> {
                    int generations = 0;
                    while (System.nanoTime() < end) {
                        PeerClient client = session % 2 == 0 ? f32 : int8;
                        assertArrayEquals(expected[session], client.generate(prompts[session], NEW_TOKENS).ids());
                        generations++;
                    }
                    return generations;
                }));
            }
            int total = 0;
            for (Future<Integer> run : runs) {
                total += run.get();
            }
            pool.shutdown();
            System.out.printf("load: %d sessions, %d generations of %d tokens in %d s, no errors%n", SESSIONS, total, NEW_TOKENS, seconds);
            for (PeerServer server : cluster.servers()) {
                Peers.await(() -> server.liveSessions() == 0 && server.cacheBytes() == 0, Duration.ofSeconds(5), "released");
            }
            Peers.await(() -> HostStorage.liveBytes() == baseline, Duration.ofSeconds(5), "host memory back to " + baseline
                    + " bytes, now " + HostStorage.liveBytes());
            assertEquals(List.of(), f32.failovers());
        }
    }
}
