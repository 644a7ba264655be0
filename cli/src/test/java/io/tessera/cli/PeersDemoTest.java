package io.tessera.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's peers stage: three servers give the local ids with f32 activations, and report their wire bytes. */
class PeersDemoTest {
    @Test
    void threePeersGenerateWhatTheLocalModelDoes(@TempDir Path dir) throws Exception {
        StringWriter text = new StringWriter();
        try (PrintWriter out = new PrintWriter(text)) {
            PeersDemo.run(out, dir);
        }
        String report = text.toString();
        assertTrue(report.contains("f32 activations: 32 tokens in"), report);
        assertTrue(report.matches("(?s).*f32 activations: 32 tokens in [0-9.]+ s, 32 of 32 ids equal to local.*"), report);
        // f32: (prompt 9 + 31 decode steps) x 256 units x 4 bytes over 32 tokens
        assertTrue(report.contains("1280 bytes per token per hop"), report);
        assertTrue(Files.isRegularFile(dir.resolve("gpt2-peers").resolve("config.json")));
    }
}
