package io.tessera.peers;

import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.KvCache;
import io.tessera.peers.wire.ClientMessage;
import io.tessera.peers.wire.PeerGrpc;
import io.tessera.peers.wire.Ping;
import io.tessera.peers.wire.Pong;
import io.tessera.peers.wire.ServerMessage;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.DecoderCache;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Serves blocks {@code from} .. {@code to - 1} of a {@link CausalLm} to inference sessions: one gRPC stream per
 * session, each with its own KV cache for the span, released when the stream ends (close, error, a client that
 * disappeared) or the session idles. The caches share a byte budget; an Open beyond it is refused with
 * RESOURCE_EXHAUSTED. With a registry, the server announces itself every heartbeat.
 */
public final class PeerServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(PeerServer.class.getName());

    /** Settings of a server; the defaults suit a loopback test. */
    public static final class Config {
        String host = "127.0.0.1";
        int port;
        String advertisedHost;
        String token;
        long maxCacheBytes = 1L << 30;
        DType kvCache = DType.F32;
        Duration idleTimeout = Duration.ofMinutes(5);
        int maxMessageBytes = 64 << 20;
        int flowControlWindow = 1 << 20;
        Registry registry;
        PeerTls tls;
        Duration heartbeat = Duration.ofSeconds(1);
        String modelName = "";
        Path floatCheckpoint;

        /** The address to listen on (0.0.0.0 for every interface) and the port (0: any free one). */
        public Config listen(String host, int port) {
            this.host = host;
            this.port = port;
            return this;
        }

        /** The host clients reach this server at, as announced to the registry (default: the listening host). */
        public Config advertise(String host) {
            this.advertisedHost = host;
            return this;
        }

        /** Calls without this shared token are refused (null: no authentication). */
        public Config token(String token) {
            this.token = token;
            return this;
        }

        public Config maxCacheBytes(long bytes) {
            this.maxCacheBytes = bytes;
            return this;
        }

        /**
         * The dtype the sessions' KV caches hold keys and values in: F32 (the default), or F16 (half the memory per
         * position; logits move by F16's rounding, see {@link io.tessera.engine.nn.KvCache}).
         */
        public Config kvCache(DType dtype) {
            this.kvCache = KvCache.requireDtype(dtype);
            return this;
        }

        public Config idleTimeout(Duration timeout) {
            this.idleTimeout = timeout;
            return this;
        }

        /** The largest message accepted (a step's hidden states); larger ones end their session with RESOURCE_EXHAUSTED. */
        public Config maxMessageBytes(int bytes) {
            this.maxMessageBytes = bytes;
            return this;
        }

        /** The HTTP/2 flow-control window per stream: about bandwidth x round trip. */
        public Config flowControlWindow(int bytes) {
            this.flowControlWindow = bytes;
            return this;
        }

        /** Mutual TLS: only clients with a certificate of the trusted CA get through (null: plain text). */
        public Config tls(PeerTls tls) {
            this.tls = tls;
            return this;
        }

        /**
         * The model's int8 layers were quantized from the float checkpoint in {@code dir}: per-session patches name that
         * float model (its digest is read from there at the first patch); without this, an int8 span takes no patches.
         */
        public Config quantizedFrom(Path dir) {
            this.floatCheckpoint = dir;
            return this;
        }

        /** Announce to {@code registry} as {@code modelName} every {@code heartbeat} (entries live three heartbeats). */
        public Config registry(Registry registry, String modelName, Duration heartbeat) {
            this.registry = registry;
            this.modelName = modelName;
            this.heartbeat = heartbeat;
            return this;
        }
    }

    private final CausalLm model;
    private final int from;
    private final int to;
    private final Config config;
    private final Server server;
    private final Map<String, ServerSession> sessions = new ConcurrentHashMap<>();
    private final AtomicLong cacheBytes = new AtomicLong();
    private final ScheduledExecutorService timers;
    private final PeerInfo info;
    private final SessionPatches patches;

    private PeerServer(CausalLm model, int from, int to, Config config) throws IOException {
        if (from < 0 || to > model.config().layers() || from >= to) {
            throw new IllegalArgumentException("blocks " + from + ":" + to + " are not a span of the model's " + model.config().layers()
                    + " blocks");
        }
        this.model = model;
        this.from = from;
        this.to = to;
        this.config = config;
        this.patches = new SessionPatches(model, config.floatCheckpoint);
        double throughput = measureThroughput();
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(config.host, config.port))
                .addService(ServerInterceptors.intercept(new Service(), TokenAuth.server(config.token)))
                // calls run on the transport's threads: ServerSession only hands steps to its own thread, never blocks,
                // and a pool thread between the two would add a hand-off to every step of every hop
                .directExecutor()
                .maxInboundMessageSize(config.maxMessageBytes)
                .flowControlWindow(config.flowControlWindow)
                .permitKeepAliveTime(1, TimeUnit.SECONDS);
        if (config.tls != null) {
            config.tls.secure(builder);
        }
        this.server = builder.build().start();
        String host = config.advertisedHost != null ? config.advertisedHost : config.host;
        this.info = new PeerInfo(UUID.randomUUID().toString(), host + ":" + server.getPort(), from, to, throughput, config.modelName);
        this.timers = Executors.newScheduledThreadPool(2, Thread.ofPlatform().daemon().name("peer-timers").factory());
        long sweep = Math.max(50, Math.min(1000, config.idleTimeout.toMillis() / 4));
        timers.scheduleWithFixedDelay(this::closeIdle, sweep, sweep, TimeUnit.MILLISECONDS);
        if (config.registry != null) {
            timers.scheduleWithFixedDelay(this::announce, 0, config.heartbeat.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** Serves blocks {@code from} .. {@code to - 1} of {@code model} (which the caller keeps owning and closes after this). */
    public static PeerServer start(CausalLm model, int from, int to, Config config) throws IOException {
        return new PeerServer(model, from, to, config);
    }

    public int port() {
        return server.getPort();
    }

    /** This server as announced to the registry. */
    public PeerInfo info() {
        return info;
    }

    /** Sessions open now. */
    public int liveSessions() {
        return sessions.size();
    }

    /** Bytes of KV cache held by the open sessions. */
    public long cacheBytes() {
        return cacheBytes.get();
    }

    CausalLm model() {
        return model;
    }

    int from() {
        return from;
    }

    int to() {
        return to;
    }

    SessionPatches patches() {
        return patches;
    }

    /** Reserves {@code bytes} of the cache budget, or returns false if they do not fit. */
    boolean reserve(long bytes) {
        long used;
        do {
            used = cacheBytes.get();
            if (bytes > config.maxCacheBytes - used) {
                return false;
            }
        } while (!cacheBytes.compareAndSet(used, used + bytes));
        return true;
    }

    long maxCacheBytes() {
        return config.maxCacheBytes;
    }

    DType kvCache() {
        return config.kvCache;
    }

    void register(ServerSession session) {
        sessions.put(session.id(), session);
    }

    /** Called once by each session when it lets go of its cache. */
    void released(ServerSession session, long bytes) {
        sessions.remove(session.id());
        cacheBytes.addAndGet(-bytes);
    }

    private void closeIdle() {
        long limit = config.idleTimeout.toNanos();
        long now = System.nanoTime();
        sessions.values().forEach(s -> s.closeIfIdle(now, limit));
    }

    private void announce() {
        try {
            config.registry.announce(info, config.heartbeat.multipliedBy(3));
        } catch (RuntimeException e) {
            if (!timers.isShutdown()) { // closing interrupts a heartbeat in flight: expected, not worth a warning
                LOG.log(System.Logger.Level.WARNING, "announcing to the registry failed (retried next heartbeat): " + e.getMessage());
            }
        }
    }

    /** Decode steps per second through the span at batch 1, after a warm-up step. */
    private double measureThroughput() {
        int steps = 4;
        long hidden = model.config().hiddenSize();
        try (GradMode off = GradMode.noGrad(); DecoderCache cache = model.newCache(1, steps + 1, from, to, config.kvCache)) {
            long start = 0;
            for (int i = 0; i <= steps; i++) {
                if (i == 1) {
                    start = System.nanoTime();
                }
                try (TensorScope scope = TensorScope.open()) {
                    Tensor x = Tensor.zeros(model.device(), 1, 1, hidden);
                    model.blocks(from, to, x, i, cache);
                }
            }
            return steps / Math.max(1e-9, (System.nanoTime() - start) / 1e9);
        }
    }

    @Override
    public void close() {
        timers.shutdownNow();
        if (config.registry != null) {
            try {
                config.registry.withdraw(info.id());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "withdrawing from the registry failed: " + e.getMessage());
            }
        }
        server.shutdownNow();
        sessions.values().forEach(ServerSession::abort);
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        sessions.values().forEach(ServerSession::awaitReleased);
    }

    private final class Service extends PeerGrpc.PeerImplBase {
        @Override
        public StreamObserver<ClientMessage> session(StreamObserver<ServerMessage> response) {
            return new ServerSession(PeerServer.this, (ServerCallStreamObserver<ServerMessage>) response);
        }

        @Override
        public void probe(Ping request, StreamObserver<Pong> response) {
            response.onNext(Pong.newBuilder().setNonce(request.getNonce()).build());
            response.onCompleted();
        }
    }
}
