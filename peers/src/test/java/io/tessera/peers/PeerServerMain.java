package io.tessera.peers;

import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfCheckpoint;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A server in its own process, for the fault tests: {@code DIR FROM TO REGISTRY} (an address {@link Registry#connect}
 * takes). Prints {@code READY <port>} once serving and exits when its standard input closes (the test JVM ended).
 */
public final class PeerServerMain {
    private PeerServerMain() {}

    public static void main(String[] args) throws IOException {
        try (CausalLm model = HfCheckpoint.load(Path.of(args[0]));
             Registry registry = Registry.connect(args[3], null, null);
             PeerServer server = PeerServer.start(model, Integer.parseInt(args[1]), Integer.parseInt(args[2]),
                     new PeerServer.Config().registry(registry, "", Duration.ofMillis(500)))) {
            System.out.println("READY " + server.port());
            System.out.flush();
            while (System.in.read() >= 0) {
                // the parent holds the pipe open while it wants this server
            }
        }
    }

    /** Starts a server process for blocks {@code from} .. {@code to - 1} of the model in {@code dir}, announcing to {@code registry}. */
    static Process launch(Path dir, int from, int to, String registry) throws IOException {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED"));
        System.getProperties().stringPropertyNames().stream().filter(k -> k.startsWith("tessera."))
                .forEach(k -> command.add("-D" + k + "=" + System.getProperty(k)));
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), PeerServerMain.class.getName(), dir.toString(),
                Integer.toString(from), Integer.toString(to), registry));
        return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** Waits until {@code process} serves, and returns its port. */
    static int awaitReady(Process process) throws IOException {
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        if (line == null || !line.startsWith("READY ")) {
            throw new IllegalStateException("a server process did not start: " + line);
        }
        return Integer.parseInt(line.substring("READY ".length()));
    }
}
