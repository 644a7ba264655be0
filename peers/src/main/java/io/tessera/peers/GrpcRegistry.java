package io.tessera.peers;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.tessera.peers.wire.Announcement;
import io.tessera.peers.wire.ListRequest;
import io.tessera.peers.wire.RegistryGrpc;
import io.tessera.peers.wire.Withdrawal;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** A {@link Registry} reached over gRPC: the embedded {@link RegistryServer}. */
public final class GrpcRegistry implements Registry {
    private static final long CALL_DEADLINE_MILLIS = 10_000;

    private final String address;
    private final ManagedChannel channel;
    private final RegistryGrpc.RegistryBlockingStub stub;

    /** The registry at {@code address} (host:port), called with {@code token} unless null. */
    public GrpcRegistry(String address, String token) {
        this(address, token, null);
    }

    /** As {@link #GrpcRegistry(String, String)}, over mutual TLS unless {@code tls} is null. */
    public GrpcRegistry(String address, String token, PeerTls tls) {
        this.address = address;
        this.channel = PeerTls.channel(address, tls).intercept(TokenAuth.client(token)).build();
        this.stub = RegistryGrpc.newBlockingStub(channel);
    }

    @Override
    public void announce(PeerInfo server, Duration ttl) {
        call(() -> stub().announce(Announcement.newBuilder().setServer(server.toWire()).setTtlMillis(ttl.toMillis()).build()));
    }

    @Override
    public void withdraw(String id) {
        call(() -> stub().withdraw(Withdrawal.newBuilder().setId(id).build()));
    }

    @Override
    public List<PeerInfo> servers() {
        return call(() -> stub().list(ListRequest.getDefaultInstance()).getServersList().stream().map(PeerInfo::fromWire).toList());
    }

    private RegistryGrpc.RegistryBlockingStub stub() {
        return stub.withDeadlineAfter(CALL_DEADLINE_MILLIS, TimeUnit.MILLISECONDS);
    }

    private <T> T call(Supplier<T> call) {
        try {
            return call.get();
        } catch (StatusRuntimeException e) {
            throw new PeerException("registry " + address + ": " + e.getStatus(), e);
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
