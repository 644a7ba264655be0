package io.tessera.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.peers.LocalEtcd;
import io.tessera.peers.Registry;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/**
 * A registry (tessera registry, or etcd), two tessera serve and tessera generate --registry, in-process, on the tiny
 * GPT-2 and BF16 Qwen2 fixtures.
 */
class PeersCommandsTest {
    private static final Path FIXTURES = Path.of("../pipeline/src/test/resources/models");

    @TempDir
    Path dir;

    /** A long-running command in its own thread; its output can be read while it runs. */
    private record Background(Thread thread, StringWriter out, AtomicInteger exitCode) {
        static Background start(String... args) {
            StringWriter out = new StringWriter();
            AtomicInteger code = new AtomicInteger(-1);
            CommandLine cli = TesseraCommand.commandLine();
            cli.setOut(new PrintWriter(out));
            cli.setErr(new PrintWriter(out));
            Thread thread = Thread.ofPlatform().daemon().start(() -> code.set(cli.execute(args)));
            return new Background(thread, out, code);
        }

        /** The first match of {@code pattern} in the output, waiting for it. */
        Matcher await(Pattern pattern) throws InterruptedException {
            for (int i = 0; i < 600; i++) {
                Matcher m = pattern.matcher(out.toString());
                if (m.find()) {
                    return m;
                }
                assertTrue(thread.isAlive(), "the command ended: " + out);
                Thread.sleep(50);
            }
            throw new AssertionError("no '" + pattern + "' in: " + out);
        }

        int stop() throws InterruptedException {
            thread.interrupt();
            thread.join(10_000);
            return exitCode.get();
        }
    }

    /** qwen2-tiny-bf16: BF16 weights, which the servers and the client hold as stored, as local generate does. */
    @ParameterizedTest(name = "{0} registry, {1}")
    @CsvSource({"tessera, gpt2-tiny", "etcd, gpt2-tiny", "tessera, qwen2-tiny-bf16"})
    void generateThroughARegistryAndTwoServersGivesTheLocalIds(String kind, String fixture) throws Exception {
        Path model = Files.createDirectories(dir.resolve(fixture));
        try (Stream<Path> files = Files.list(FIXTURES.resolve(fixture))) {
            for (Path f : files.toList()) {
                Files.copy(f, model.resolve(f.getFileName()));
            }
        }
        Path token = Files.writeString(dir.resolve("token"), "a-shared-token\n");
        List<Background> running = new ArrayList<>();
        LocalEtcd etcd = kind.equals("etcd") ? LocalEtcd.start() : null;
        try {
            String address;
            if (etcd != null) {
                address = etcd.address();
            } else {
                Background registry = Background.start("registry", "--port", "0", "--token-file", token.toString());
                running.add(registry);
                address = "127.0.0.1:" + registry.await(Pattern.compile("registry listening on 127\\.0\\.0\\.1:(\\d+)")).group(1);
            }
            for (String blocks : new String[] {"0:1", "1:2"}) {
                Background server = Background.start("serve", "--model", model.toString(), "--blocks", blocks, "--registry", address,
                        "--token-file", token.toString());
                running.add(server);
                server.await(Pattern.compile("serving blocks " + blocks));
            }
            try (Registry listed = Registry.connect(address, "a-shared-token", null)) {
                for (int i = 0; i < 200 && listed.servers().size() < 2; i++) {
                    Thread.sleep(50);
                }
                assertEquals(2, listed.servers().size());
            }
            String local = CliRunner.ok("generate", "--model", model.toString(), "--prompt-ids", "1,2,3", "--max-new-tokens", "8").out();
            String remote = CliRunner.ok("generate", "--model", model.toString(), "--prompt-ids", "1,2,3", "--max-new-tokens", "8",
                    "--registry", address, "--token-file", token.toString(), "--activations", "f32").out();
            assertEquals(local, remote);
            CliRunner.fails(1, List.of("UNAUTHENTICATED"), "generate", "--model", model.toString(), "--prompt-ids", "1,2,3",
                    "--max-new-tokens", "2", "--registry", address);
        } finally {
            for (Background b : running.reversed()) { // servers first: they withdraw from the registry as they stop
                assertEquals(0, b.stop(), b.out().toString());
            }
            if (etcd != null) {
                etcd.close();
            }
        }
    }

    @Test
    void badPeerOptionsAreUsageErrors() throws IOException {
        CliRunner.fails(2, List.of("--blocks must be A:B"), "serve", "--model", dir.toString(), "--blocks", "1-2");
        CliRunner.fails(2, List.of("--logits-out cannot be combined with --registry"), "generate", "--model", dir.toString(),
                "--prompt-ids", "1", "--max-new-tokens", "1", "--registry", "127.0.0.1:1", "--logits-out", dir.resolve("l").toString());
        CliRunner.fails(2, List.of("--activations must be int8 or f32"), "generate", "--model", dir.toString(), "--prompt-ids", "1",
                "--max-new-tokens", "1", "--registry", "127.0.0.1:1", "--activations", "fp8");
        CliRunner.fails(2, List.of("mutual TLS needs all of --tls-cert, --tls-key and --tls-ca"), "registry", "--port", "0",
                "--tls-cert", dir.resolve("cert.pem").toString());
        CliRunner.fails(2, List.of("--kv-cache must be f32 or f16, got 'int8'"), "serve", "--model", dir.toString(), "--blocks",
                "0:1", "--kv-cache", "int8");
        CliRunner.fails(2, List.of("with --registry the servers hold the caches"), "generate", "--model", dir.toString(),
                "--prompt-ids", "1", "--max-new-tokens", "1", "--registry", "127.0.0.1:1", "--kv-cache", "f16");
    }
}
