package io.tessera.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.tessera.peers.wire.ClientMessage;
import io.tessera.peers.wire.Encoding;
import io.tessera.peers.wire.Open;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.HfCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mutual TLS: peers with certificates of the trusted CA generate; a client or server with another CA's gets nothing. */
class PeerTlsTest {
    @TempDir
    Path tmp;

    @Test
    void onlyPeersWithCertificatesOfTheTrustedCaGetThrough() throws Exception {
        PeerTls trusted = issue("trusted", "peer");
        PeerTls rogue = issue("rogue", "intruder");
        Path dir = Peers.writeModel(Peers.GPT2, 8, tmp.resolve("model"));
        long[] prompt = {4, 5, 6};
        List<AutoCloseable> open = new ArrayList<>();
        try (CausalLm local = HfCheckpoint.load(dir)) {
            RegistryServer registry = RegistryServer.start("127.0.0.1", 0, null, trusted);
            open.add(registry);
            String address = "127.0.0.1:" + registry.port();
            List<PeerServer> servers = new ArrayList<>();
            for (int[] span : new int[][] {{0, 2}, {2, 3}}) {
                Registry announcer = new GrpcRegistry(address, null, trusted);
                CausalLm model = HfCheckpoint.load(dir);
                open.add(model);
                open.add(announcer);
                PeerServer server = PeerServer.start(model, span[0], span[1],
                        new PeerServer.Config().tls(trusted).registry(announcer, "", Duration.ofSeconds(1)));
                open.add(server);
                servers.add(server);
            }
            Peers.await(() -> registry.servers().size() == 2, Duration.ofSeconds(10), "servers announced over TLS");

            try (Registry listed = new GrpcRegistry(address, null, trusted);
                 PeerClient client = new PeerClient(listed, local, Peers.patientClient().tls(trusted).encoding(Encoding.F32))) {
                assertArrayEquals(Generator.generate(local, prompt, 6, true).ids(), client.generate(prompt, 6).ids());
            }
            // an unregistered server (another CA's certificate) cannot announce, a plain-text one neither
            PeerInfo intruder = new PeerInfo("intruder", "127.0.0.1:1", 0, 3, 1e9, "");
            try (Registry withRogue = new GrpcRegistry(address, null, rogue); Registry plain = new GrpcRegistry(address, null)) {
                assertThrows(PeerException.class, () -> withRogue.announce(intruder, Duration.ofSeconds(5)));
                assertThrows(PeerException.class, () -> plain.announce(intruder, Duration.ofSeconds(5)));
            }
            assertEquals(2, registry.servers().size());
            // a client with a wrong certificate cannot open a session
            try (RawSession session = new RawSession(servers.getFirst().port(), null, rogue)) {
                Status status = session.send(ClientMessage.newBuilder().setOpen(Open.newBuilder().setFrom(0).setTo(2).setBatch(1)
                        .setCapacity(8)).build()).status();
                assertEquals(Status.Code.UNAVAILABLE, status.getCode(), status.toString());
            }
            // a server with a wrong certificate is refused by the client
            try (Registry listed = new GrpcRegistry(address, null, trusted);
                 PeerClient client = new PeerClient(listed, local, Peers.patientClient().tls(rogue))) {
                PeerException refused = assertThrows(PeerException.class, () -> client.generate(prompt, 2));
                assertTrue(refused.getMessage().contains("UNAVAILABLE"), refused.getMessage());
            }
            for (PeerServer server : servers) {
                Peers.await(() -> server.liveSessions() == 0, Duration.ofSeconds(5), "released");
            }
        } finally {
            for (AutoCloseable c : open.reversed()) {
                c.close();
            }
        }
    }

    /** A CA named {@code ca} and a certificate for 127.0.0.1 it signs, made with openssl. */
    private PeerTls issue(String ca, String name) throws IOException, InterruptedException {
        Path d = Files.createDirectories(tmp.resolve(ca));
        Path ext = Files.writeString(d.resolve("san.ext"), "subjectAltName=IP:127.0.0.1\n");
        openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out",
                "ca.crt", "-days", "1", "-subj", "/CN=" + ca);
        openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", "/CN=" + name);
        openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                name + ".crt", "-days", "1", "-extfile", ext.toString());
        return new PeerTls(d.resolve(name + ".crt"), d.resolve(name + ".key"), d.resolve("ca.crt"));
    }

    private static void openssl(Path dir, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException("openssl " + String.join(" ", args) + " failed:\n" + output);
        }
    }
}
