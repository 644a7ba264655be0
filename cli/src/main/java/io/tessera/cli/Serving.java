package io.tessera.cli;

import java.util.concurrent.CountDownLatch;

/** The wait of a command that serves until it is stopped (Ctrl-C, or an interrupt in tests). */
final class Serving {
    private Serving() {}

    static void untilInterrupted() {
        try {
            new CountDownLatch(1).await();
        } catch (InterruptedException e) {
            // stopped: the caller closes what it serves
        }
    }
}
