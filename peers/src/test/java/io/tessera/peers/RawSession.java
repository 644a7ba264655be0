package io.tessera.peers;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.tessera.peers.wire.ClientMessage;
import io.tessera.peers.wire.PeerGrpc;
import io.tessera.peers.wire.ServerMessage;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A session stream driven message by message, for tests that send what a well-behaved client never would. */
final class RawSession implements AutoCloseable {
    private final ManagedChannel channel;
    private final StreamObserver<ClientMessage> requests;
    private final BlockingQueue<Object> replies = new LinkedBlockingQueue<>();

    RawSession(int port, String token) {
        this(port, token, null);
    }

    RawSession(int port, String token, PeerTls tls) {
        channel = PeerTls.channel("127.0.0.1:" + port, tls).maxInboundMessageSize(256 << 20).intercept(TokenAuth.client(token)).build();
        requests = PeerGrpc.newStub(channel).session(new StreamObserver<>() {
            @Override
            public void onNext(ServerMessage message) {
                replies.add(message);
            }

            @Override
            public void onError(Throwable t) {
                replies.add(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                replies.add(Status.OK);
            }
        });
    }

    RawSession send(ClientMessage message) {
        requests.onNext(message);
        return this;
    }

    /** The next reply: a ServerMessage, or the Status that ended the stream. */
    Object next() throws InterruptedException {
        Object reply = replies.poll(10, TimeUnit.SECONDS);
        if (reply == null) {
            throw new AssertionError("no reply within 10 s");
        }
        return reply;
    }

    /** The status that ended the stream, skipping messages before it. */
    Status status() throws InterruptedException {
        while (true) {
            if (next() instanceof Status status) {
                return status;
            }
        }
    }

    /** Drops the connection as a client that crashed would. */
    void vanish() {
        channel.shutdownNow();
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
