package io.tessera.peers;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A single-member etcd (Debian's etcd-server, installed by scripts/install-deps) on free loopback ports with its data
 * in a temporary directory, for tests and demos; closing kills it and deletes the directory.
 */
public final class LocalEtcd implements AutoCloseable {
    private static final Duration READY_WITHIN = Duration.ofSeconds(20);
    private static final int ATTEMPTS = 3;

    private final Process process;
    private final Path dir;
    private final int clientPort;

    private LocalEtcd(Process process, Path dir, int clientPort) {
        this.process = process;
        this.dir = dir;
        this.clientPort = clientPort;
    }

    /** Starts etcd and waits until it serves clients; a port taken in between (the free ports race) is retried. */
    public static LocalEtcd start() throws IOException {
        Path binary = Stream.of("/usr/bin/etcd", "/usr/local/bin/etcd").map(Path::of).filter(Files::isExecutable).findFirst()
                .orElseThrow(() -> new IOException("etcd is not installed: the etcd registry tests need Debian's etcd-server"
                        + " (scripts/install-deps installs it)"));
        IOException last = null;
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            Path dir = Files.createTempDirectory("tessera-etcd-");
            int clientPort = freePort();
            int peerPort = freePort();
            Process process = new ProcessBuilder(binary.toString(), "--name", "test", "--data-dir", dir.resolve("data").toString(),
                    "--listen-client-urls", "http://127.0.0.1:" + clientPort, "--advertise-client-urls", "http://127.0.0.1:" + clientPort,
                    "--listen-peer-urls", "http://127.0.0.1:" + peerPort, "--initial-advertise-peer-urls", "http://127.0.0.1:" + peerPort,
                    "--initial-cluster", "test=http://127.0.0.1:" + peerPort, "--log-outputs", "stderr")
                    .redirectErrorStream(true).redirectOutput(dir.resolve("etcd.log").toFile()).start();
            LocalEtcd etcd = new LocalEtcd(process, dir, clientPort);
            try {
                etcd.awaitReady();
                return etcd;
            } catch (IOException e) {
                last = e;
                etcd.close();
            }
        }
        throw last;
    }

    /** The address that {@link Registry#connect} takes. */
    public String address() {
        return Registry.ETCD_SCHEME + "127.0.0.1:" + clientPort;
    }

    private void awaitReady() throws IOException {
        long deadline = System.nanoTime() + READY_WITHIN.toNanos();
        try (EtcdRegistry client = new EtcdRegistry("127.0.0.1:" + clientPort)) {
            while (true) {
                if (!process.isAlive()) {
                    throw new IOException("etcd exited with " + process.exitValue() + ": " + log());
                }
                try {
                    client.servers();
                    return;
                } catch (PeerException e) {
                    if (System.nanoTime() > deadline) {
                        throw new IOException("etcd did not serve within " + READY_WITHIN.toSeconds() + " s: " + log(), e);
                    }
                }
            }
        }
    }

    private String log() throws IOException {
        List<String> lines = Files.readAllLines(dir.resolve("etcd.log"));
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    @Override
    public void close() throws IOException {
        process.destroyForcibly();
        try {
            process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
