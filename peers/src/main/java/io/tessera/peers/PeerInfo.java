package io.tessera.peers;

import io.tessera.peers.wire.ServerInfo;

/**
 * A server as the registry lists it: blocks {@code from} .. {@code to - 1} of model {@code model} at {@code address}
 * (host:port), doing {@code throughput} decode steps per second through its span (measured at start).
 */
public record PeerInfo(String id, String address, int from, int to, double throughput, String model) {
    public PeerInfo {
        if (id.isEmpty() || address.isEmpty() || from < 0 || to <= from || !(throughput > 0)) {
            throw new IllegalArgumentException("a server needs an id, an address, blocks from < to and a positive throughput, got "
                    + id + " at " + address + " blocks " + from + ":" + to + " throughput " + throughput);
        }
    }

    ServerInfo toWire() {
        return ServerInfo.newBuilder().setId(id).setAddress(address).setFrom(from).setTo(to).setThroughput(throughput)
                .setModel(model).build();
    }

    static PeerInfo fromWire(ServerInfo s) {
        return new PeerInfo(s.getId(), s.getAddress(), s.getFrom(), s.getTo(), s.getThroughput(), s.getModel());
    }

    /** Whether this server holds blocks {@code a} .. {@code b - 1}. */
    boolean covers(int a, int b) {
        return from <= a && b <= to;
    }
}
