package io.tessera.engine;

import java.util.ArrayList;
import java.util.List;

/**
 * Frees, when it closes, every tensor storage allocated inside it on this thread:
 * <pre>{@code
 * try (var scope = TensorScope.open()) {
 *     Tensor loss = model.forward(x).crossEntropy(y);
 *     loss.backward();
 *     result = scope.keep(someTensor);   // outlives the scope
 * }
 * }</pre>
 * Scopes nest and must close innermost first, on the thread that opened them. Storages allocated inside a
 * scope are confined to this thread (cheap to free); allocations outside any scope are shared and must be
 * closed by their owner (e.g. a Module's parameters, closed with the module).
 */
public final class TensorScope implements AutoCloseable {
    private static final ThreadLocal<TensorScope> CURRENT = new ThreadLocal<>();

    private final TensorScope parent;
    private final Thread owner = Thread.currentThread();
    private final List<Storage> owned = new ArrayList<>();
    private boolean closed;

    private TensorScope(TensorScope parent) {
        this.parent = parent;
    }

    public static TensorScope open() {
        TensorScope scope = new TensorScope(CURRENT.get());
        CURRENT.set(scope);
        return scope;
    }

    static TensorScope current() {
        return CURRENT.get();
    }

    /**
     * Runs {@code body} as if no scope were open: what it allocates is shared (usable from any thread) and
     * belongs to the caller, e.g. a module's parameters or an optimizer's state.
     */
    public static <T> T outside(java.util.function.Supplier<T> body) {
        TensorScope saved = CURRENT.get();
        CURRENT.remove();
        try {
            return body.get();
        } finally {
            CURRENT.set(saved);
        }
    }

    /** Registers a new storage with the current scope, if any; returns whether there was one. */
    static boolean adopt(Storage storage) {
        TensorScope scope = CURRENT.get();
        if (scope != null) {
            scope.owned.add(storage);
        }
        return scope != null;
    }

    /**
     * Registers {@code dependent} (e.g. the gradient of a tensor) with the scope of this thread that owns
     * {@code anchor}, so that both are freed together; nothing if no open scope of this thread owns it.
     */
    static void adoptWith(Storage anchor, Storage dependent) {
        for (TensorScope scope = CURRENT.get(); scope != null; scope = scope.parent) {
            for (int i = scope.owned.size() - 1; i >= 0; i--) { // the anchor is usually recent
                if (scope.owned.get(i) == anchor) {
                    scope.owned.add(dependent);
                    return;
                }
            }
        }
    }

    /**
     * Moves {@code tensor}'s storage out of this scope into the enclosing one (or, for the outermost
     * scope, to the caller, who must close it); {@code tensor}, even if it is a view, becomes the tensor
     * whose closing frees the storage. Returns the tensor for chaining.
     */
    public Tensor keep(Tensor tensor) {
        checkOpen();
        Storage storage = tensor.storage();
        if (!owned.remove(storage)) {
            throw new IllegalArgumentException("tensor " + tensor.describe() + " was not allocated in this scope");
        }
        if (parent != null) {
            parent.owned.add(storage);
        }
        return tensor.takeOwnership();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("TensorScope is closed");
        }
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("TensorScope used from " + Thread.currentThread().getName()
                    + " but opened on " + owner.getName());
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        checkOpen();
        if (CURRENT.get() != this) {
            throw new IllegalStateException("TensorScopes must close innermost first");
        }
        closed = true;
        CURRENT.set(parent);
        for (int i = owned.size() - 1; i >= 0; i--) {
            owned.get(i).close();
        }
        owned.clear();
    }
}
