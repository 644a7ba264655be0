package io.tessera.ffi;

/** Shared glue of the binding classes. */
final class Downcalls {
    private Downcalls() {}

    /**
     * {@code invokeExact} declares Throwable; a downcall itself throws nothing checked. Unchecked
     * exceptions (a missing library, a closed arena) pass through unchanged.
     */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e) {
            return e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new AssertionError("a downcall threw a checked exception", t);
    }
}
