package io.tessera.peers;

import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfCheckpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A server in its own process, for the fault tests: {@code DIR FROM TO REGISTRY}. Prints {@code READY <port>} once
 * serving and exits when its standard input closes (the test JVM ended).
 */
public final class PeerServerMain {
    private PeerServerMain() {}

    public static void main(String[] args) throws IOException {
        try (CausalLm model = HfCheckpoint.load(Path.of(args[0]));
             Registry registry = new GrpcRegistry(args[3], null);
             PeerServer server = PeerServer.start(model, Integer.parseInt(args[1]), Integer.parseInt(args[2]),
                     new PeerServer.Config().registry(registry, "", Duration.ofMillis(500)))) {
            System.out.println("READY " + server.port());
            System.out.flush();
            while (System.in.read() >= 0) {
                // the parent holds the pipe open while it wants this server
            }
        }
    }
}
