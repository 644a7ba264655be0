package io.tessera.engine.autograd;

/**
 * Whether ops record the tape on this thread. {@code try (var off = GradMode.noGrad()) { ... }} turns
 * recording off inside the block (inference, optimizer steps) and restores the previous mode after.
 */
public final class GradMode implements AutoCloseable {
    private static final ThreadLocal<Boolean> ENABLED = ThreadLocal.withInitial(() -> Boolean.TRUE);

    private final boolean previous;

    private GradMode(boolean enabled) {
        previous = ENABLED.get();
        ENABLED.set(enabled);
    }

    public static GradMode noGrad() {
        return new GradMode(false);
    }

    public static GradMode enableGrad() {
        return new GradMode(true);
    }

    public static boolean isEnabled() {
        return ENABLED.get();
    }

    @Override
    public void close() {
        ENABLED.set(previous);
    }
}
