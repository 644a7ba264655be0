package io.tessera.peers;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.peers.wire.ClientMessage;
import io.tessera.peers.wire.Encoding;
import io.tessera.peers.wire.Open;
import io.tessera.peers.wire.Opened;
import io.tessera.peers.wire.Pong;
import io.tessera.peers.wire.ServerMessage;
import io.tessera.peers.wire.Step;
import io.tessera.peers.wire.StepResult;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.DecoderCache;
import io.tessera.pipeline.models.ModelConfig;
import java.io.UncheckedIOException;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One session of a {@link PeerServer}: the stream's Open, steps and pings. Steps run in order on the session's own
 * thread (so pings are answered while a step computes); anything wrong ends this stream with a status and leaves
 * the other sessions alone. The KV cache is released on that thread after the last step.
 */
final class ServerSession implements StreamObserver<ClientMessage> {
    private static final System.Logger LOG = System.getLogger(ServerSession.class.getName());

    private final PeerServer server;
    private final ServerCallStreamObserver<ServerMessage> response;
    private final String id = UUID.randomUUID().toString();
    private final ExecutorService worker;
    private final AtomicBoolean releaseScheduled = new AtomicBoolean();
    private final CountDownLatch released = new CountDownLatch(1);
    private volatile long lastActivity = System.nanoTime();
    private volatile boolean openReceived;
    private volatile boolean ended;

    // owned by the worker thread
    private CausalLm model;
    private boolean patched;
    private DecoderCache cache;
    private int from;
    private int to;
    private long batch;
    private Encoding encoding;
    private long reserved;

    ServerSession(PeerServer server, ServerCallStreamObserver<ServerMessage> response) {
        this.server = server;
        this.response = response;
        this.worker = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().name("peer-session-" + id).factory());
        server.register(this);
    }

    String id() {
        return id;
    }

    @Override
    public void onNext(ClientMessage message) {
        lastActivity = System.nanoTime();
        switch (message.getKindCase()) {
            case PING -> send(ServerMessage.newBuilder().setPong(Pong.newBuilder().setNonce(message.getPing().getNonce())).build());
            case OPEN -> {
                if (openReceived) {
                    end(Status.FAILED_PRECONDITION.withDescription("the session is already open"));
                    return;
                }
                openReceived = true;
                submit(() -> open(message.getOpen()));
            }
            case STEP -> {
                if (!openReceived) {
                    end(Status.FAILED_PRECONDITION.withDescription("unknown session: send Open before any step"));
                    return;
                }
                submit(() -> step(message.getStep()));
            }
            default -> end(Status.INVALID_ARGUMENT.withDescription("empty message"));
        }
    }

    @Override
    public void onError(Throwable t) {
        ended = true; // the client cancelled or disappeared: nobody to answer
        releaseLater();
    }

    @Override
    public void onCompleted() {
        submit(() -> {
            synchronized (response) {
                if (!ended) {
                    ended = true;
                    response.onCompleted();
                }
            }
        });
        releaseLater();
    }

    /** Ends the session if nothing arrived for {@code limitNanos}. */
    void closeIfIdle(long now, long limitNanos) {
        if (now - lastActivity > limitNanos) {
            end(Status.DEADLINE_EXCEEDED.withDescription("session idle for more than " + TimeUnit.NANOSECONDS.toMillis(limitNanos)
                    + " ms"));
        }
    }

    /** The server is shutting down. */
    void abort() {
        end(Status.UNAVAILABLE.withDescription("the server is shutting down"));
    }

    void awaitReleased() {
        try {
            released.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void open(Open open) {
        ModelConfig config = server.model().config();
        if (open.getFrom() < server.from() || open.getTo() > server.to() || open.getFrom() >= open.getTo()) {
            end(Status.INVALID_ARGUMENT.withDescription("blocks " + open.getFrom() + ":" + open.getTo() + " are not within this server's "
                    + server.from() + ":" + server.to()));
            return;
        }
        if (open.getBatch() < 1 || open.getCapacity() < 1 || open.getCapacity() > config.maxPositions()) {
            end(Status.INVALID_ARGUMENT.withDescription("need batch >= 1 and capacity in [1, " + config.maxPositions() + "], got batch "
                    + open.getBatch() + ", capacity " + open.getCapacity()));
            return;
        }
        if (open.getEncoding() == Encoding.UNRECOGNIZED) {
            end(Status.INVALID_ARGUMENT.withDescription("unknown encoding " + open.getEncodingValue()));
            return;
        }
        long bytes;
        try {
            long perLayer = Math.multiplyExact(Math.multiplyExact(open.getBatch(), config.kvHeads()),
                    Math.multiplyExact(open.getCapacity(), config.headDim()));
            bytes = Math.multiplyExact(Math.multiplyExact(perLayer, 2L * server.kvCache().byteSize()), open.getTo() - open.getFrom());
        } catch (ArithmeticException e) {
            bytes = Long.MAX_VALUE;
        }
        if (!server.reserve(bytes)) {
            end(Status.RESOURCE_EXHAUSTED.withDescription("the session's KV cache needs " + bytes + " bytes; this server's caches are"
                    + " bounded to " + server.maxCacheBytes() + " bytes and " + server.cacheBytes() + " are in use"));
            return;
        }
        reserved = bytes;
        from = open.getFrom();
        to = open.getTo();
        batch = open.getBatch();
        encoding = open.getEncoding();
        try {
            model = server.model();
            if (!open.getPatch().isEmpty()) {
                int a = from;
                int b = to;
                model = server.patches().patched(SessionPatches.parse(open.getPatch().toByteArray()), block -> block >= a && block < b);
                patched = true;
            }
            cache = model.newCache(batch, open.getCapacity(), from, to, server.kvCache());
        } catch (IllegalArgumentException e) {
            end(Status.INVALID_ARGUMENT.withDescription(e.getMessage()));
            return;
        } catch (UncheckedIOException e) {
            end(Status.INTERNAL.withDescription(e.getMessage()));
            return;
        }
        send(ServerMessage.newBuilder().setOpened(Opened.newBuilder().setSession(id).setFrom(from).setTo(to).setEncoding(encoding)
                .setCacheBytes(bytes)).build());
    }

    private void step(Step step) {
        if (cache == null || ended) {
            return;
        }
        lastActivity = System.nanoTime();
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            Tensor input = WireTensors.decode(step.getHidden(), server.model().config().hiddenSize());
            if (input.dim(0) != batch || step.getPast() != cache.length()) {
                end(Status.INVALID_ARGUMENT.withDescription("a step of batch " + input.dim(0) + " at position " + step.getPast()
                        + "; the session has batch " + batch + " and holds " + cache.length() + " positions"));
                return;
            }
            if (step.getPast() + input.dim(1) > cache.capacity()) {
                end(Status.OUT_OF_RANGE.withDescription(step.getPast() + " + " + input.dim(1) + " positions exceed the session's capacity "
                        + cache.capacity()));
                return;
            }
            Device device = model.device();
            Tensor output = model.blocks(from, to, device.equals(Device.CPU) ? input : input.to(device), step.getPast(), cache);
            send(ServerMessage.newBuilder().setResult(StepResult.newBuilder().setId(step.getId())
                    .setHidden(WireTensors.encode(output, encoding))).build());
        } catch (IllegalArgumentException e) {
            end(Status.INVALID_ARGUMENT.withDescription(e.getMessage()));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "session " + id + ": step failed", e);
            end(Status.INTERNAL.withDescription("step failed: " + e));
        }
        lastActivity = System.nanoTime();
    }

    private void send(ServerMessage message) {
        synchronized (response) {
            if (!ended) {
                try {
                    response.onNext(message);
                } catch (RuntimeException e) {
                    ended = true; // the call was cancelled meanwhile
                    releaseLater();
                }
            }
        }
    }

    private void end(Status status) {
        synchronized (response) {
            if (ended) {
                return;
            }
            ended = true;
            try {
                response.onError(status.asRuntimeException());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "session " + id + ": the call was already closed");
            }
        }
        releaseLater();
    }

    private void submit(Runnable task) {
        try {
            worker.execute(task);
        } catch (RejectedExecutionException e) {
            // the session is being released: nothing more to do for it
        }
    }

    private void releaseLater() {
        if (releaseScheduled.compareAndSet(false, true)) {
            submit(this::release);
            worker.shutdown();
        }
    }

    private void release() {
        if (cache != null) {
            cache.close();
        }
        if (patched) {
            model.close();
        }
        server.released(this, reserved);
        released.countDown();
    }
}
