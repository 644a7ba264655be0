package io.tessera.peers;

import java.time.Duration;
import java.util.List;

/** Where servers announce their spans and clients find them; an entry lives {@code ttl} after its last announcement. */
public interface Registry extends AutoCloseable {
    /** Adds or refreshes (a heartbeat) {@code server}. */
    void announce(PeerInfo server, Duration ttl);

    /** Removes the server of this id at once (a clean shutdown). */
    void withdraw(String id);

    /** The servers whose entries have not expired. */
    List<PeerInfo> servers();

    @Override
    void close();
}
