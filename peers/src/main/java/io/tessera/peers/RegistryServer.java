package io.tessera.peers;

import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.tessera.peers.wire.Announced;
import io.tessera.peers.wire.Announcement;
import io.tessera.peers.wire.ListRequest;
import io.tessera.peers.wire.RegistryGrpc;
import io.tessera.peers.wire.ServerList;
import io.tessera.peers.wire.Withdrawal;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/** The embedded registry ({@code tessera registry}): an in-memory table of servers behind a gRPC service. */
public final class RegistryServer implements AutoCloseable {
    private record Entry(PeerInfo server, long expiresAtNanos) {}

    private final Map<String, Entry> entries = new ConcurrentHashMap<>();
    private final LongSupplier nanoClock;
    private final Server server;

    private RegistryServer(String host, int port, String token, PeerTls tls, LongSupplier nanoClock) throws IOException {
        this.nanoClock = nanoClock;
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .addService(ServerInterceptors.intercept(new Service(), TokenAuth.server(token)));
        if (tls != null) {
            tls.secure(builder);
        }
        this.server = builder.build().start();
    }

    /** A registry listening on {@code host:port} (port 0: any free port), refusing calls without {@code token} unless null. */
    public static RegistryServer start(String host, int port, String token) throws IOException {
        return start(host, port, token, null);
    }

    /** As {@link #start(String, int, String)}, over mutual TLS unless {@code tls} is null. */
    public static RegistryServer start(String host, int port, String token, PeerTls tls) throws IOException {
        return new RegistryServer(host, port, token, tls, System::nanoTime);
    }

    public int port() {
        return server.getPort();
    }

    /** The live entries (expired ones dropped). */
    public List<PeerInfo> servers() {
        long now = nanoClock.getAsLong();
        entries.values().removeIf(e -> e.expiresAtNanos() - now <= 0);
        return entries.values().stream().map(Entry::server).toList();
    }

    @Override
    public void close() {
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private final class Service extends RegistryGrpc.RegistryImplBase {
        @Override
        public void announce(Announcement request, StreamObserver<Announced> response) {
            PeerInfo info;
            try {
                info = PeerInfo.fromWire(request.getServer());
            } catch (IllegalArgumentException e) {
                response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
                return;
            }
            long ttl = request.getTtlMillis();
            String badTtl = Registry.checkTtl(ttl);
            if (badTtl != null) {
                response.onError(Status.INVALID_ARGUMENT.withDescription(badTtl).asRuntimeException());
                return;
            }
            entries.put(info.id(), new Entry(info, nanoClock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(ttl)));
            response.onNext(Announced.getDefaultInstance());
            response.onCompleted();
        }

        @Override
        public void withdraw(Withdrawal request, StreamObserver<Announced> response) {
            entries.remove(request.getId());
            response.onNext(Announced.getDefaultInstance());
            response.onCompleted();
        }

        @Override
        public void list(ListRequest request, StreamObserver<ServerList> response) {
            ServerList.Builder out = ServerList.newBuilder();
            servers().forEach(s -> out.addServers(s.toWire()));
            response.onNext(out.build());
            response.onCompleted();
        }
    }
}
