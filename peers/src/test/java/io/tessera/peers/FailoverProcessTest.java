package io.tessera.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.peers.wire.Encoding;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.ModelConfig;
import io.tessera.pipeline.models.Sampler;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Server processes, two per span; in each seeded trial one serving peer is killed (SIGKILL) or frozen (SIGSTOP) at a
 * random step of a 128-token greedy generation, and the output must be that of the run without a fault. Two trials
 * by default; {@code -Dtessera.peers.trials=20} for the full set.
 */
class FailoverProcessTest {
    /** -Dtessera.peers.gpt2small=true: GPT-2-small's shape (124M random weights, 12 blocks) instead of the tiny model. */
    private static final boolean SMALL = Boolean.getBoolean("tessera.peers.gpt2small");
    private static final ModelConfig CONFIG = SMALL ? ModelConfig.preset("gpt2-small") : Peers.GPT2;
    private static final int[][] SPANS = SMALL ? new int[][] {{0, 4}, {4, 8}, {8, 12}} : new int[][] {{0, 1}, {1, 2}, {2, 3}};
    private static final long[] PROMPT = {2, 7, 1, 8, 28, 18, 28, 4};
    private static final int NEW_TOKENS = 128;
    @TempDir
    static Path tmp;
    private static Path dir;
    private static RegistryServer registry;
    private static final Map<Integer, ServerProcess> processes = new ConcurrentHashMap<>();

    private record ServerProcess(Process process, int from, int to, int port) {}

    @BeforeAll
    static void start() throws Exception {
        dir = Peers.writeModel(CONFIG, 21, tmp.resolve("model"));
        registry = RegistryServer.start("127.0.0.1", 0, null);
        List<Process> started = new ArrayList<>();
        List<int[]> spans = new ArrayList<>();
        for (int[] span : SPANS) {
            for (int copy = 0; copy < 2; copy++) {
                started.add(launch(span));
                spans.add(span);
            }
        }
        for (int i = 0; i < started.size(); i++) {
            register(started.get(i), spans.get(i));
        }
        awaitRegistered();
    }

    @AfterAll
    static void stop() throws Exception {
        for (ServerProcess p : processes.values()) {
            signal(p.process(), "CONT");
            p.process().destroyForcibly().waitFor();
        }
        if (registry != null) {
            registry.close();
        }
    }

    private static Process launch(int[] span) throws IOException {
        return PeerServerMain.launch(dir, span[0], span[1], "127.0.0.1:" + registry.port());
    }

    private static void register(Process process, int[] span) throws IOException {
        int port = PeerServerMain.awaitReady(process);
        processes.put(port, new ServerProcess(process, span[0], span[1], port));
    }

    /** Until the registry lists exactly the running processes. */
    private static void awaitRegistered() {
        Peers.await(() -> {
            Set<String> listed = registry.servers().stream().map(PeerInfo::address).collect(Collectors.toSet());
            Set<String> running = processes.keySet().stream().map(p -> "127.0.0.1:" + p).collect(Collectors.toSet());
            return listed.equals(running);
        }, Duration.ofSeconds(30), "the registry to list the running servers");
    }

    private static void signal(Process process, String signal) throws IOException, InterruptedException {
        new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).start().waitFor();
    }

    @Test
    void killedOrFrozenPeersAreReplacedAndTheOutputIsIdentical() throws Exception {
        int trials = Integer.getInteger("tessera.peers.trials", 2);
        long[] reference;
        try (CausalLm local = HfCheckpoint.load(dir);
             Registry client = new GrpcRegistry("127.0.0.1:" + registry.port(), null);
             PeerClient peers = new PeerClient(client, local, new PeerClient.Config())) {
            reference = peers.generate(PROMPT, NEW_TOKENS).ids();
            long[] localIds = Generator.generate(local, PROMPT, NEW_TOKENS, true).ids();
            try (PeerClient f32 = new PeerClient(client, local, new PeerClient.Config().encoding(Encoding.F32))) {
                assertArrayEquals(localIds, f32.generate(PROMPT, NEW_TOKENS).ids(), "f32 through 3 processes: the local ids");
            }
            // a reference run with a (false) stall would still be exact: its replacement replays the same inputs
            System.out.printf("8-bit activations over 3 processes: the first %d of %d ids equal to local generation; %d"
                    + " failovers in the runs without a fault%n", countEqual(reference, localIds), NEW_TOKENS, peers.failovers().size());
            for (int trial = 0; trial < trials; trial++) {
                runTrial(trial, peers, reference);
            }
        }
    }

    private void runTrial(int trial, PeerClient peers, long[] reference) throws Exception {
        Random random = new Random(1000 + trial);
        boolean freeze = trial % 2 == 1;
        int faultStep = 1 + random.nextInt(NEW_TOKENS - 1);
        int hop = random.nextInt(SPANS.length);
        long[] signalledAt = {0};
        ServerProcess[] victim = {null};
        int before = peers.failovers().size();
        long[] ids = peers.generate(PROMPT, NEW_TOKENS, Sampler.greedy(), new long[0], null, (step, chain) -> {
            if (step == faultStep) {
                String address = chain.get(hop).address();
                victim[0] = processes.get(Integer.parseInt(address.substring(address.lastIndexOf(':') + 1)));
                try {
                    signal(victim[0].process(), freeze ? "STOP" : "KILL");
                } catch (IOException | InterruptedException e) {
                    throw new AssertionError(e);
                }
                signalledAt[0] = System.nanoTime();
            }
        }).ids();
        assertArrayEquals(reference, ids, "trial " + trial + ": the output of the run without a fault");
        String victimAddress = "127.0.0.1:" + victim[0].port();
        PeerClient.Failover first = peers.failovers().subList(before, peers.failovers().size()).stream()
                .filter(f -> f.failed().equals(victimAddress)).findFirst()
                .orElseThrow(() -> new AssertionError("trial " + trial + ": the fault was not noticed"));
        assertEquals(SPANS[hop][0], first.from());
        double detectionMs = (first.detectedAtNanos() - signalledAt[0]) / 1e6;
        System.out.printf("trial %d: %s of the server of blocks %d:%d at step %d: detected after %.0f ms (%s), recovered in"
                + " %.0f ms replaying %d steps%n", trial, freeze ? "SIGSTOP" : "SIGKILL", first.from(), first.to(), faultStep,
                detectionMs, first.reason(), first.recoveryNanos() / 1e6, first.replayedSteps());
        assertTrue(detectionMs < 2000, "trial " + trial + ": detected after " + detectionMs + " ms");
        if (freeze) {
            signal(victim[0].process(), "CONT");
        } else {
            processes.remove(victim[0].port());
            victim[0].process().waitFor();
            register(launch(new int[] {victim[0].from(), victim[0].to()}), new int[] {victim[0].from(), victim[0].to()});
        }
        awaitRegistered();
    }

    private static int countEqual(long[] a, long[] b) {
        int n = 0;
        while (n < a.length && a[n] == b[n]) {
            n++;
        }
        return n;
    }
}
