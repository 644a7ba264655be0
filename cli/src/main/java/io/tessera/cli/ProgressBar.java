package io.tessera.cli;

import java.io.Console;
import java.io.PrintWriter;
import picocli.CommandLine.Model.CommandSpec;

/**
 * One line that redraws itself ("\r") while long work runs: a bar, a count, an ETA, and a caller's status
 * text. Redraws at most every 100 ms so a fast loop is not slowed by printing. It goes to stderr, and only
 * when that is a terminal: a pipe or a log file gets no carriage returns, and stdout stays for results.
 */
public final class ProgressBar {
    private static final int WIDTH = 30;

    private final PrintWriter out; // null: not a terminal, draw nothing
    private final String label;
    private final long total;
    private final long start = System.nanoTime();
    private long lastDraw;

    /** A bar on the command's stderr if the process has a terminal (since JDK 22 System.console() exists even without one). */
    public static ProgressBar onStderr(CommandSpec spec, String label, long total) {
        return new ProgressBar(terminalStderr(spec), label, total);
    }

    /** The command's stderr when the process has a terminal, else null: status for a person, never for a log or a test. */
    public static PrintWriter terminalStderr(CommandSpec spec) {
        Console console = System.console();
        return console != null && console.isTerminal() ? spec.commandLine().getErr() : null;
    }

    ProgressBar(PrintWriter out, String label, long total) {
        this.out = out;
        this.label = label;
        this.total = Math.max(total, 1);
    }

    public void update(long done, String status) {
        long now = System.nanoTime();
        if (out == null || done < total && now - lastDraw < 100_000_000L) {
            return;
        }
        lastDraw = now;
        int filled = (int) (WIDTH * done / total);
        double elapsed = (now - start) / 1e9;
        double eta = done == 0 ? 0 : elapsed * (total - done) / done;
        out.printf("\r%s [%s%s] %d/%d %s, %.0fs left   ", label, "#".repeat(filled), ".".repeat(WIDTH - filled), done, total,
                status, eta);
        if (done >= total) {
            out.println();
        }
        out.flush();
    }
}
