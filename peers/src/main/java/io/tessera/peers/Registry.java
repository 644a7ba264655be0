package io.tessera.peers;

import java.time.Duration;
import java.util.List;

/**
 * Where servers announce their spans and clients find them; an entry lives {@code ttl} after its last announcement.
 * Two implementations: the embedded {@link RegistryServer} reached through {@link GrpcRegistry}, and etcd
 * ({@link EtcdRegistry}); {@link #connect} picks one by the address.
 */
public interface Registry extends AutoCloseable {
    /** The longest entry lifetime a server may ask for, so a dead server never lingers for long. */
    Duration MAX_TTL = Duration.ofSeconds(60);

    /** The scheme of an etcd address: {@code etcd://host:port[,host:port...]}. */
    String ETCD_SCHEME = "etcd://";

    /**
     * Adds or refreshes (a heartbeat) {@code server}.
     *
     * @throws PeerException if the registry cannot be reached or refuses the entry (a ttl outside [1 ms, {@link #MAX_TTL}])
     */
    void announce(PeerInfo server, Duration ttl);

    /** Removes the server of this id at once (a clean shutdown). */
    void withdraw(String id);

    /** The servers whose entries have not expired. */
    List<PeerInfo> servers();

    @Override
    void close();

    /**
     * The registry at {@code address}: {@code etcd://host:port[,host:port...]} for etcd, else {@code host:port} of an
     * embedded registry ({@code tessera registry}), called with {@code token} unless null and over mutual TLS unless
     * {@code tls} is null. etcd is called with neither: it is guarded by its own means (see {@link EtcdRegistry}).
     */
    static Registry connect(String address, String token, PeerTls tls) {
        return address.startsWith(ETCD_SCHEME) ? new EtcdRegistry(address.substring(ETCD_SCHEME.length()))
                : new GrpcRegistry(address, token, tls);
    }

    /** The reason {@code ttl} is not a valid entry lifetime, or null if it is. */
    static String checkTtl(long ttlMillis) {
        return ttlMillis >= 1 && ttlMillis <= MAX_TTL.toMillis() ? null
                : "ttl must be in [1, " + MAX_TTL.toMillis() + "] ms, got " + ttlMillis + " ms";
    }
}
