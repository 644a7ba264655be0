package io.tessera.peers;

import com.google.protobuf.InvalidProtocolBufferException;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.tessera.peers.wire.ServerInfo;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A {@link Registry} kept in etcd: each server is a key under {@value #PREFIX} holding its {@code ServerInfo}, bound
 * to a lease of the announced ttl. A heartbeat renews the lease, so etcd itself deletes the key of a server that
 * stopped renewing once the lease runs out (etcd leases count whole seconds, at least its minimum, 2 s with the
 * default election timeout). {@link #servers()} reads the keys: the client reads the registry only when it plans a
 * chain or replaces a server, when a current read is what it needs, so it keeps no watched copy that could lag.
 * etcd's own TLS and users guard it; the peers' token and certificates are not used here.
 */
public final class EtcdRegistry implements Registry {
    private static final System.Logger LOG = System.getLogger(EtcdRegistry.class.getName());
    static final String PREFIX = "/tessera/peers/";
    private static final long CALL_DEADLINE_MILLIS = 10_000;

    private final String endpoints;
    private final Client client;
    /** The leases of the servers this client announced, by server id. */
    private final Map<String, Long> leases = new ConcurrentHashMap<>();

    /** The etcd cluster at {@code endpoints}, host:port[,host:port...], in plain text. */
    public EtcdRegistry(String endpoints) {
        this.endpoints = endpoints;
        String[] urls = Arrays.stream(endpoints.split(",", -1)).map(e -> "http://" + e.strip()).toArray(String[]::new);
        if (Arrays.stream(urls).anyMatch(u -> u.equals("http://"))) {
            throw new IllegalArgumentException("etcd endpoints must be host:port[,host:port...], got '" + endpoints + "'");
        }
        this.client = Client.builder().endpoints(urls).connectTimeout(Duration.ofSeconds(5))
                .retryMaxDuration(Duration.ofMillis(CALL_DEADLINE_MILLIS)).build();
    }

    @Override
    public void announce(PeerInfo server, Duration ttl) {
        String badTtl = Registry.checkTtl(ttl.toMillis());
        if (badTtl != null) {
            throw new PeerException("etcd registry " + endpoints + ": " + badTtl);
        }
        Long lease = leases.get(server.id());
        if (lease != null && call(client.getLeaseClient().keepAliveOnce(lease).handle((r, e) -> e == null && r.getTTL() > 0))) {
            return;
        }
        // the first announcement, or the lease ran out (this process was frozen, or etcd unreachable, for longer than ttl)
        long seconds = Math.max(1, (ttl.toMillis() + 999) / 1000);
        long granted = call(client.getLeaseClient().grant(seconds)).getID();
        call(client.getKVClient().put(key(server.id()), ByteSequence.from(server.toWire().toByteArray()),
                PutOption.builder().withLeaseId(granted).build()));
        leases.put(server.id(), granted);
    }

    @Override
    public void withdraw(String id) {
        Long lease = leases.remove(id);
        if (lease != null) {
            call(client.getLeaseClient().revoke(lease));
        }
        // also an entry announced by another client of the registry
        call(client.getKVClient().delete(key(id)));
    }

    @Override
    public List<PeerInfo> servers() {
        List<KeyValue> kvs = call(client.getKVClient().get(ByteSequence.from(PREFIX, StandardCharsets.UTF_8),
                GetOption.builder().isPrefix(true).build())).getKvs();
        List<PeerInfo> servers = new ArrayList<>(kvs.size());
        for (KeyValue kv : kvs) {
            try {
                servers.add(PeerInfo.fromWire(ServerInfo.parseFrom(kv.getValue().getBytes())));
            } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
                // a key under the prefix that no server wrote: skipped, not a failure of every client
                LOG.log(System.Logger.Level.WARNING, "etcd registry " + endpoints + ": key " + kv.getKey() + " is not a server entry: "
                        + e.getMessage());
            }
        }
        return servers;
    }

    private static ByteSequence key(String id) {
        return ByteSequence.from(PREFIX + id, StandardCharsets.UTF_8);
    }

    private <T> T call(CompletableFuture<T> call) {
        try {
            return call.get(CALL_DEADLINE_MILLIS, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new PeerException("etcd registry " + endpoints + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            call.cancel(true);
            throw new PeerException("etcd registry " + endpoints + ": no answer within " + CALL_DEADLINE_MILLIS + " ms", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PeerException("etcd registry " + endpoints + ": interrupted", e);
        }
    }

    @Override
    public void close() {
        client.close();
    }
}
