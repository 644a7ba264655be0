package io.tessera.peers;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * An emulated network link in front of a server (test-only; this kernel has no netem): each direction is a link of
 * {@code bitsPerSecond} with a one-way delay of half the round trip. A chunk read at time a starts transmitting when
 * the link is free, takes size / bandwidth, and is written out one delay after its transmission ends.
 */
final class DelayingProxy implements AutoCloseable {
    private record Chunk(byte[] bytes, long deliverAtNanos) {}

    private final ServerSocket listener;
    private final int targetPort;
    private final double nanosPerByte;
    private final long oneWayNanos;

    DelayingProxy(int targetPort, double bitsPerSecond, double roundTripMillis) throws IOException {
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.targetPort = targetPort;
        this.nanosPerByte = 8e9 / bitsPerSecond;
        this.oneWayNanos = (long) (roundTripMillis * 1e6 / 2);
        Thread.ofPlatform().daemon().start(this::accept);
    }

    int port() {
        return listener.getLocalPort();
    }

    private void accept() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                Socket server = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                client.setTcpNoDelay(true);
                server.setTcpNoDelay(true);
                link(client.getInputStream(), server.getOutputStream());
                link(server.getInputStream(), client.getOutputStream());
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    /** One direction: a reader that stamps chunks and a writer that releases them on time. */
    private void link(InputStream in, OutputStream out) {
        BlockingQueue<Chunk> queue = new LinkedBlockingQueue<>();
        Thread.ofPlatform().daemon().start(() -> {
            byte[] buffer = new byte[16 << 10];
            long linkFreeAt = 0;
            try {
                for (int n; (n = in.read(buffer)) > 0;) {
                    long start = Math.max(System.nanoTime(), linkFreeAt);
                    linkFreeAt = start + (long) (n * nanosPerByte);
                    queue.add(new Chunk(Arrays.copyOf(buffer, n), linkFreeAt + oneWayNanos));
                }
            } catch (IOException e) {
                // the connection ended
            }
            queue.add(new Chunk(null, 0));
        });
        Thread.ofPlatform().daemon().start(() -> {
            try (out) {
                while (true) {
                    Chunk chunk = queue.take();
                    if (chunk.bytes() == null) {
                        return;
                    }
                    for (long wait; (wait = chunk.deliverAtNanos() - System.nanoTime()) > 0;) {
                        LockSupport.parkNanos(wait);
                    }
                    out.write(chunk.bytes());
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                // the connection ended
            }
        });
    }

    @Override
    public void close() throws IOException {
        listener.close();
    }
}
