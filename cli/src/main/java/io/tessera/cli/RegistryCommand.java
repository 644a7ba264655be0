package io.tessera.cli;

import io.tessera.peers.RegistryServer;
import io.tessera.peers.TokenAuth;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** The registry servers announce their spans to and clients find them in. */
@Command(name = "registry", description = {"Run the registry of inference servers (tessera serve announces to it, tessera generate"
        + " --registry finds servers in it); a server that stops announcing is dropped within 3 s. Runs until stopped."})
final class RegistryCommand implements Callable<Integer> {
    @Option(names = "--host", paramLabel = "H", defaultValue = "127.0.0.1", description = "The address to listen on"
            + " (default ${DEFAULT-VALUE}; 0.0.0.0 for every interface).")
    String host;

    @Option(names = "--port", paramLabel = "P", defaultValue = "7700", description = "The port (default ${DEFAULT-VALUE}; 0: any).")
    int port;

    @Option(names = "--token-file", paramLabel = "F", description = "A file holding the shared token: calls without it are refused.")
    Path tokenFile;

    @Mixin
    TlsOptions tlsOptions = new TlsOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        String token = tokenFile == null ? null : TokenAuth.read(tokenFile);
        try (RegistryServer registry = RegistryServer.start(host, port, token, tlsOptions.tls())) {
            PrintWriter out = spec.commandLine().getOut();
            out.println("registry listening on " + host + ":" + registry.port());
            out.flush();
            Serving.untilInterrupted();
        }
        return 0;
    }
}
