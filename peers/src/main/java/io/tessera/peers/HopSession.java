package io.tessera.peers;

import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import io.tessera.peers.wire.ClientMessage;
import io.tessera.peers.wire.Open;
import io.tessera.peers.wire.Opened;
import io.tessera.peers.wire.PeerGrpc;
import io.tessera.peers.wire.Ping;
import io.tessera.peers.wire.Pong;
import io.tessera.peers.wire.ServerMessage;
import io.tessera.peers.wire.Step;
import io.tessera.peers.wire.WireTensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The client's end of one session stream. While it waits for results it pings the server every
 * {@code pingInterval}, on the session stream and by a unary probe; a server that says nothing for {@code stallTimeout}
 * (frozen, or its link is) is reported as stalled long before the step's deadline. The probe is its own HTTP/2 stream,
 * so its answer is not queued behind a large step or result on the session stream: those take bytes / bandwidth to
 * cross, and a long prompt's chunks sent at once on a slow link would otherwise read as a silent server.
 */
final class HopSession implements AutoCloseable {
    /** Timing of the liveness checks and the deadline of a step. */
    record Timing(Duration pingInterval, Duration stallTimeout, Duration stepDeadline) {}

    private final PeerInfo server;
    private final Timing timing;
    private final BlockingQueue<Object> inbox = new LinkedBlockingQueue<>();
    private final ClientCallStreamObserver<ClientMessage> requests;
    private final PeerGrpc.PeerStub stub;
    private final StreamObserver<Pong> probeAnswers = new StreamObserver<>() {
        @Override
        public void onNext(Pong pong) {
            lastHeard = System.nanoTime();
        }

        @Override
        public void onError(Throwable t) {
            // no answer within its deadline: the stall check sees the silence
        }

        @Override
        public void onCompleted() {}
    };
    private volatile long lastHeard = System.nanoTime();
    private long nonce;
    private Open pendingOpen; // sent, its answer not read yet

    private HopSession(PeerInfo server, PeerGrpc.PeerStub stub, Timing timing) {
        this.server = server;
        this.timing = timing;
        this.stub = stub;
        ClientResponseObserver<ClientMessage, ServerMessage> responses = new ClientResponseObserver<>() {
            private ClientCallStreamObserver<ClientMessage> call;

            @Override
            public void beforeStart(ClientCallStreamObserver<ClientMessage> requestStream) {
                call = requestStream;
            }

            @Override
            public void onNext(ServerMessage message) {
                lastHeard = System.nanoTime();
                if (!message.hasPong()) {
                    inbox.add(message);
                }
            }

            @Override
            public void onError(Throwable t) {
                inbox.add(t);
            }

            @Override
            public void onCompleted() {
                inbox.add(Status.UNAVAILABLE.withDescription("the server ended the session").asRuntimeException());
            }
        };
        this.requests = (ClientCallStreamObserver<ClientMessage>) stub.session(responses);
    }

    /**
     * Sends the Open of a session on {@code server}'s stream without waiting for its answer: steps may follow at once
     * (the server handles a stream's messages in order), and the first {@link #run} checks the answer before the
     * results, so opening costs no round trip of its own. A refusal surfaces there, as a {@link PeerException}.
     */
    static HopSession start(PeerInfo server, PeerGrpc.PeerStub stub, Open open, Timing timing) {
        HopSession session = new HopSession(server, stub, timing);
        session.pendingOpen = open;
        try {
            session.send(ClientMessage.newBuilder().setOpen(open).build());
            return session;
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
    }

    /** Waits for the answer to the Open if it has not come yet. @throws PeerException if the server refused it */
    private void awaitOpened() {
        Open open = pendingOpen;
        if (open == null) {
            return;
        }
        ServerMessage reply = await();
        if (!reply.hasOpened()) {
            throw new PeerException(server.address() + ": expected Opened, got " + reply.getKindCase());
        }
        Opened opened = reply.getOpened();
        if (opened.getFrom() != open.getFrom() || opened.getTo() != open.getTo() || opened.getEncoding() != open.getEncoding()) {
            throw new PeerException(server.address() + ": opened blocks " + opened.getFrom() + ":" + opened.getTo() + " "
                    + opened.getEncoding() + ", asked for " + open.getFrom() + ":" + open.getTo() + " " + open.getEncoding());
        }
        pendingOpen = null;
    }

    PeerInfo server() {
        return server;
    }

    /** Sends {@code steps} at once and returns their results' hidden states, in order. */
    List<WireTensor> run(List<Step> steps) {
        for (Step step : steps) {
            send(ClientMessage.newBuilder().setStep(step).build());
        }
        awaitOpened();
        List<WireTensor> out = new ArrayList<>(steps.size());
        for (Step step : steps) {
            ServerMessage reply = await();
            if (!reply.hasResult() || reply.getResult().getId() != step.getId()) {
                throw new PeerException(server.address() + ": expected the result of step " + step.getId() + ", got " + reply);
            }
            out.add(reply.getResult().getHidden());
        }
        return out;
    }

    /** The next message, pinging while waiting. @throws PeerException on an error status, a stall or the deadline */
    private ServerMessage await() {
        long start = System.nanoTime();
        long deadline = start + timing.stepDeadline().toNanos();
        lastHeard = Math.max(lastHeard, start);
        while (true) {
            Object next;
            try {
                next = inbox.poll(timing.pingInterval().toNanos(), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PeerException(server.address() + ": interrupted");
            }
            if (next instanceof ServerMessage message) {
                return message;
            }
            if (next instanceof Throwable t) {
                throw new PeerException(server.address() + ": " + Status.fromThrowable(t), t);
            }
            long now = System.nanoTime();
            if (now - lastHeard > timing.stallTimeout().toNanos()) {
                throw new PeerException(server.address() + ": stalled (nothing heard for " + (now - lastHeard) / 1_000_000 + " ms)");
            }
            if (now > deadline) {
                throw new PeerException(server.address() + ": no result within the step deadline " + timing.stepDeadline());
            }
            Ping ping = Ping.newBuilder().setNonce(++nonce).build();
            send(ClientMessage.newBuilder().setPing(ping).build());
            stub.withDeadlineAfter(timing.stallTimeout().toNanos(), TimeUnit.NANOSECONDS).probe(ping, probeAnswers);
        }
    }

    private void send(ClientMessage message) {
        try {
            synchronized (requests) {
                requests.onNext(message);
            }
        } catch (RuntimeException e) {
            throw new PeerException(server.address() + ": cannot send: " + e.getMessage(), e);
        }
    }

    /** Ends the session (the server releases its cache). */
    @Override
    public void close() {
        try {
            synchronized (requests) {
                requests.onCompleted();
            }
        } catch (RuntimeException e) {
            // already closed or failed: the server has let go of the session
        }
    }

    /** Drops the session without waiting (a failed peer). */
    void cancel() {
        requests.cancel("abandoned by the client", null);
    }
}
