package io.tessera.ffi;

import java.util.List;

/** A native library (or one of its symbols) could not be loaded; the message lists every place tried. */
public final class NativeLibraryUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient List<String> attempts;

    NativeLibraryUnavailableException(String library, List<String> attempts) {
        super(library + " is not available. Looked in:\n  - " + String.join("\n  - ", attempts));
        this.attempts = List.copyOf(attempts);
    }

    NativeLibraryUnavailableException(String message) {
        this(message, List.of(), null);
    }

    private NativeLibraryUnavailableException(String message, List<String> attempts, Void unused) {
        super(message);
        this.attempts = attempts;
    }

    /** The same failure, with a stack trace of the current call. */
    NativeLibraryUnavailableException copy() {
        return new NativeLibraryUnavailableException(getMessage(), attempts, null);
    }

    /** One line per place that was tried, with the reason it failed. */
    public List<String> attempts() {
        return attempts;
    }
}
