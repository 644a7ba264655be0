package io.tessera.peers;

import io.tessera.pipeline.QuantizationConfig;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfCheckpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A registry and one server per span on loopback, in this process, each server with its own (memory-mapped) copy of
 * the model directory: the demo's peers and the tests' fixture. The registry is an embedded one started here, or one
 * running elsewhere (etcd). Closing stops the servers before the registry, so that they withdraw from it.
 */
public final class LocalCluster implements AutoCloseable {
    private static final Duration ANNOUNCED_WITHIN = Duration.ofSeconds(5);

    /** The embedded registry this cluster started, or null for one running elsewhere. */
    private final RegistryServer embedded;
    private final String registryAddress;
    private final String token;
    private final List<PeerServer> servers = new ArrayList<>();
    private final List<CausalLm> models = new ArrayList<>();
    private final List<Registry> clients = new ArrayList<>();

    private LocalCluster(RegistryServer embedded, String registryAddress, String token) {
        this.embedded = embedded;
        this.registryAddress = registryAddress;
        this.token = token;
    }

    /**
     * Starts the registry and a server for each span {from, to} of the model in {@code dir} ({@code configs[i]}, if
     * given, configures server i; with {@link PeerServer.Config#quantizedFrom} it loads the model with int8
     * projections), and waits until all are announced.
     */
    public static LocalCluster start(Path dir, int[][] spans, String token, PeerServer.Config... configs) throws IOException {
        RegistryServer embedded = RegistryServer.start("127.0.0.1", 0, token);
        return start(new LocalCluster(embedded, "127.0.0.1:" + embedded.port(), token), dir, spans, configs);
    }

    /** As {@link #start(Path, int[][], String, PeerServer.Config...)}, announcing to the registry at {@code registryAddress}. */
    public static LocalCluster start(String registryAddress, Path dir, int[][] spans, String token, PeerServer.Config... configs)
            throws IOException {
        return start(new LocalCluster(null, registryAddress, token), dir, spans, configs);
    }

    private static LocalCluster start(LocalCluster cluster, Path dir, int[][] spans, PeerServer.Config... configs) throws IOException {
        String token = cluster.token;
        try {
            for (int i = 0; i < spans.length; i++) {
                PeerServer.Config config = configs.length > i ? configs[i] : new PeerServer.Config();
                Registry announcer = cluster.newRegistryClient();
                // a server configured as quantized from the directory serves its span in int8
                CausalLm model = config.floatCheckpoint != null ? HfCheckpoint.load(dir, QuantizationConfig.defaults())
                        : HfCheckpoint.load(dir);
                cluster.models.add(model);
                cluster.servers.add(PeerServer.start(model, spans[i][0], spans[i][1],
                        config.token(token).registry(announcer, "", Duration.ofSeconds(1))));
            }
            cluster.awaitAnnounced(spans.length);
            return cluster;
        } catch (IOException | RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    private void awaitAnnounced(int count) throws IOException {
        Registry registry = newRegistryClient();
        long deadline = System.nanoTime() + ANNOUNCED_WITHIN.toNanos();
        while (registry.servers().size() < count) {
            if (System.nanoTime() > deadline) {
                throw new IOException("only " + registry.servers().size() + " of " + count + " local servers announced themselves"
                        + " to the registry at " + registryAddress + " within " + ANNOUNCED_WITHIN.toSeconds() + " s");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while the local servers started", e);
            }
        }
    }

    /** The registry's address, as {@link Registry#connect} takes it. */
    public String registryAddress() {
        return registryAddress;
    }

    /** The servers, in the order of their spans. */
    public List<PeerServer> servers() {
        return Collections.unmodifiableList(servers);
    }

    /** A client of the registry with the cluster's token, closed with the cluster. */
    public Registry newRegistryClient() {
        Registry client = Registry.connect(registryAddress, token, null);
        clients.add(client);
        return client;
    }

    @Override
    public void close() {
        servers.forEach(PeerServer::close);
        models.forEach(CausalLm::close);
        clients.forEach(Registry::close);
        if (embedded != null) {
            embedded.close();
        }
    }
}
