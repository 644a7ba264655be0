package io.tessera.cli;

import io.tessera.peers.PeerTls;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** --tls-cert, --tls-key, --tls-ca: mutual TLS between peers, all three or none. */
final class TlsOptions {
    @Option(names = "--tls-cert", paramLabel = "PEM", description = "This peer's certificate chain (mutual TLS; with --tls-key and"
            + " --tls-ca).")
    Path certificate;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "This peer's private key (PKCS#8).")
    Path key;

    @Option(names = "--tls-ca", paramLabel = "PEM", description = "The CA whose certificates the other peers must hold.")
    Path ca;

    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    /** The TLS settings, or null for plain text. @throws ParameterException unless all three or none are given */
    PeerTls tls() {
        if (certificate == null && key == null && ca == null) {
            return null;
        }
        if (certificate == null || key == null || ca == null) {
            throw new ParameterException(command.commandLine(), "mutual TLS needs all of --tls-cert, --tls-key and --tls-ca");
        }
        return new PeerTls(certificate, key, ca);
    }
}
