package io.tessera.engine;

import io.tessera.engine.autograd.GradMode;
import java.util.Map;

/**
 * The NaN and infinite entries of a tensor, and the check that model-level commands (merge, fisher,
 * quantize) run on every input before they write anything, so that a NaN never travels silently from one
 * file into the next.
 */
public record NonFinite(long nan, long infinite) {
    private static final NonFinite NONE = new NonFinite(0, 0);

    /** The NaN and infinite entries of {@code t} (none for integer and boolean tensors). */
    public static NonFinite count(Tensor t) {
        if (!t.dtype().isFloatingPoint() || t.numel() == 0) {
            return NONE;
        }
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            Tensor x = t.dtype() == DType.F32 ? t : t.to(DType.F32);
            // the usual, all-finite case costs two reductions: a NaN makes the maximum NaN, an infinity the maximum or the minimum
            if (Double.isFinite(x.max(false).item()) && Double.isFinite(x.min(false).item())) {
                return NONE;
            }
            long nan = entries(x.ne(x));
            Tensor zeroUnlessFinite = x.sub(x); // NaN for NaN and for either infinity
            return new NonFinite(nan, entries(zeroUnlessFinite.ne(zeroUnlessFinite)) - nan);
        }
    }

    /**
     * Throws, naming {@code source} (e.g. "model b.safetensors") and the first tensor holding NaN or
     * infinite values, unless every tensor is finite.
     */
    public static void requireNone(String source, Map<String, Tensor> tensors) {
        for (var entry : tensors.entrySet()) {
            NonFinite found = count(entry.getValue());
            if (found.nan > 0 || found.infinite > 0) {
                throw new IllegalArgumentException(source + ": tensor '" + entry.getKey() + "' holds " + found.nan + " NaN and "
                        + found.infinite + " infinite values");
            }
        }
    }

    private static long entries(Tensor mask) {
        return (long) mask.to(DType.F32).sum().item();
    }
}
