package io.tessera.cli;

import java.io.PrintWriter;

/**
 * One line that redraws itself ("\r") while long work runs: a bar, a count, an ETA, and a caller's status
 * text. Redraws at most every 100 ms so a fast loop is not slowed by printing.
 */
final class ProgressBar {
    private static final int WIDTH = 30;

    private final PrintWriter out;
    private final String label;
    private final long total;
    private final long start = System.nanoTime();
    private long lastDraw;

    ProgressBar(PrintWriter out, String label, long total) {
        this.out = out;
        this.label = label;
        this.total = Math.max(total, 1);
    }

    void update(long done, String status) {
        long now = System.nanoTime();
        if (done < total && now - lastDraw < 100_000_000L) {
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
