package io.tessera.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine;

/** Runs the tessera command in-process, capturing its exit code, stdout and stderr. */
final class CliRunner {
    private CliRunner() {}

    record Run(int exitCode, String out, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = TesseraCommand.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    /** A run that succeeded, with nothing on stderr. */
    static Run ok(String... args) {
        Run r = run(args);
        assertEquals(0, r.exitCode(), String.join(" ", args) + "\n" + r.out() + r.err());
        assertEquals("", r.err(), String.join(" ", args));
        return r;
    }

    /** A run that failed with {@code exitCode} and one line on stderr holding each of {@code parts}; returns that line. */
    static String fails(int exitCode, List<String> parts, String... args) {
        Run r = run(args);
        String command = String.join(" ", args);
        assertEquals(exitCode, r.exitCode(), command + "\n" + r.out() + r.err());
        String line = r.err().strip();
        assertEquals(1, line.lines().count(), command + ": one line\n" + r.err());
        assertTrue(line.startsWith("tessera"), line);
        for (String part : parts) {
            assertTrue(line.contains(part), command + ": '" + part + "' missing from\n" + line);
        }
        return line;
    }

    /** The names in {@code dir}, sorted (to check that a failed run left nothing behind). */
    static List<String> listing(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
