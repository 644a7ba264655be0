package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Who frees a storage: the tensor that owns it (or its scope), exactly once. Closing a view of it (detach,
 * reshape, slice, transpose, expand, ...) closes only the view and frees nothing, on the CPU and on CUDA.
 * Memory is counted outside any scope, with the live bytes of the device's allocator.
 */
class TensorOwnershipTest {
    private static final float[] VALUES = new float[24];

    static {
        for (int i = 0; i < VALUES.length; i++) {
            VALUES[i] = i - 7.5f;
        }
    }

    /** Every kind of view of a [2, 3, 4] tensor. */
    private static final Map<String, UnaryOperator<Tensor>> VIEWS = new LinkedHashMap<>();

    static {
        VIEWS.put("detach", Tensor::detach);
        VIEWS.put("reshape", x -> x.reshape(6, 4));
        VIEWS.put("flatten", Tensor::flatten);
        VIEWS.put("slice", x -> x.slice(1, 1, 3));
        VIEWS.put("transpose", x -> x.transpose(0, 2));
        VIEWS.put("permute", x -> x.permute(2, 0, 1));
        VIEWS.put("t of a reshape", x -> x.reshape(6, 4).t());
        VIEWS.put("expand", x -> x.unsqueeze(0).expand(2, 2, 3, 4));
        VIEWS.put("unsqueeze", x -> x.unsqueeze(1));
        VIEWS.put("squeeze", x -> x.slice(1, 0, 1).squeeze(1));
    }

    static List<ConformanceTargets> targets() {
        return ConformanceTargets.all();
    }

    /** Bytes allocated on the target's device and not yet freed. */
    private static long live(ConformanceTargets t) {
        return t.isCuda() ? t.liveDeviceBytes() : HostStorage.liveBytes();
    }

    /** A [2, 3, 4] tensor of VALUES on the target, owned by the caller (no scope). */
    private static Tensor owner(ConformanceTargets t) {
        t.backend();
        Tensor host = Tensor.of(VALUES.clone(), 2, 3, 4);
        if (!t.isCuda()) {
            return host;
        }
        try (host) {
            return host.to(t.device());
        }
    }

    @ParameterizedTest
    @MethodSource("targets")
    void closingAnyViewLeavesTheTensorItViewsUsableAndFreesNothing(ConformanceTargets t) {
        for (var view : VIEWS.entrySet()) {
            long before = live(t);
            Tensor x = owner(t);
            long held = live(t);
            Tensor v = view.getValue().apply(x);
            v.close();
            assertTrue(v.isClosed(), view.getKey());
            assertThrows(IllegalStateException.class, v::toFloatArray, "a closed " + view.getKey() + " view");
            assertFalse(x.isClosed(), "closing a " + view.getKey() + " view closed the tensor it views");
            assertArrayEquals(VALUES, x.toFloatArray(), "after closing a " + view.getKey() + " view");
            assertEquals(held, live(t), "closing a " + view.getKey() + " view freed memory");
            Tensor other = view.getValue().apply(x);
            x.close();
            assertEquals(before, live(t), "closing the owner after a " + view.getKey() + " view frees its storage");
            assertThrows(IllegalStateException.class, other::toFloatArray, "a " + view.getKey() + " view of a closed tensor");
            other.close();
            v.close();
            x.close();
            assertEquals(before, live(t), "closing again after a " + view.getKey() + " view frees nothing twice");
        }
    }

    @ParameterizedTest
    @MethodSource("targets")
    void closingTheOwnerFreesItsStorageOnceAndEveryViewThenThrows(ConformanceTargets t) {
        long before = live(t);
        Tensor x = owner(t);
        List<Tensor> views = VIEWS.values().stream().map(view -> view.apply(x)).toList();
        x.close();
        assertEquals(before, live(t), "the owner's close frees the storage");
        for (Tensor v : views) {
            assertTrue(v.isClosed(), v.describe());
            assertThrows(IllegalStateException.class, () -> v.add(1), v.describe());
            v.close();
        }
        assertEquals(before, live(t), "closing the views of a closed tensor frees nothing twice");
    }

    @ParameterizedTest
    @MethodSource("targets")
    void aScopeFreesWhatItOwnsOnceAndAKeptViewOwnsTheStorage(ConformanceTargets t) {
        long before = live(t);
        Tensor kept;
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.of(VALUES.clone(), 2, 3, 4).to(t.device());
            x.detach().close();
            x.reshape(4, 6).close();
            assertArrayEquals(VALUES, x.toFloatArray(), "after closing views inside a scope");
            kept = scope.keep(x.transpose(0, 2));
            x.close(); // no longer the owner: the kept view is
            assertFalse(kept.isClosed(), "closing the former owner closed the kept view's storage");
        }
        float[] transposed = new float[24];
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) {
                for (int k = 0; k < 4; k++) {
                    transposed[k * 6 + j * 2 + i] = VALUES[i * 12 + j * 4 + k];
                }
            }
        }
        assertArrayEquals(transposed, kept.toFloatArray(), "a view kept out of its scope");
        kept.close();
        assertEquals(before, live(t), "the kept view's close frees the storage");
    }

    /** Ops that return a view of a buffer they allocated hand it over: closing the result frees it. */
    @ParameterizedTest
    @MethodSource("targets")
    void opsReturningAViewOfTheirOwnBufferGiveTheResultOwnership(ConformanceTargets t) {
        t.run(() -> {
            Tensor x = Tensor.of(VALUES.clone(), 2, 3, 4).to(t.device());
            Tensor vector = Tensor.of(new float[] {1, 2, 3, 4}, 4).to(t.device());
            Tensor matrix = x.slice(0, 0, 1).reshape(3, 4);
            Map<String, Tensor> results = new LinkedHashMap<>();
            results.put("vector @ matrix", vector.slice(0, 0, 3).matmul(matrix));
            results.put("matrix @ vector", matrix.matmul(vector));
            results.put("batch @ matrix", x.matmul(matrix.t()));
            results.put("softmax over a leading dim", x.softmax(0));
            results.put("sum keeping dims", x.sum(true, 1));
            results.put("max keeping dims", x.max(true, 2));
            results.put("argmax keeping dims", x.argmax(1, true));
            results.put("reshape that copies", x.transpose(0, 2).reshape(24));
            results.put("transposed copy", matrix.transposedCopy());
            for (var result : results.entrySet()) {
                Tensor r = result.getValue();
                Storage storage = r.storage();
                r.close();
                assertTrue(storage.isClosed(), "closing the result of " + result.getKey() + " frees its storage");
            }
        });
    }

    /** The same values in the other layout, in storage of its own: the source may close first. */
    @ParameterizedTest
    @MethodSource("targets")
    void aTransposedCopyHasTheValuesInTheOtherLayoutAndOutlivesItsSource(ConformanceTargets t) {
        long before = live(t);
        Tensor x = owner(t);
        Tensor matrix = x.reshape(6, 4);
        Tensor copy = matrix.transposedCopy();
        assertArrayEquals(new long[] {6, 4}, copy.shape());
        assertArrayEquals(new long[] {1, 6}, copy.strides());
        assertTrue(copy.t().isContiguous(), "its transpose is contiguous");
        x.close();
        assertArrayEquals(VALUES, copy.toFloatArray(), "the copy after its source closed");
        copy.close();
        assertEquals(before, live(t), "closing the copy frees it");
    }
}
