package io.tessera.engine;

import io.tessera.engine.autograd.GradMode;
import java.util.Arrays;

/**
 * The few operations that overwrite a tensor's values: optimizer steps, gradient scaling, loading
 * weights. They are not recorded on the tape (like PyTorch's in-place updates under no_grad).
 */
public final class InPlace {
    private InPlace() {}

    private static void requireContiguousF32(String op, Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t == null) {
                continue;
            }
            t.storage();
            if (t.dtype() != DType.F32 || !t.isContiguous()) {
                throw new IllegalArgumentException(op + ": needs contiguous f32 tensors, got " + t.describe());
            }
        }
        for (Tensor t : tensors) {
            if (t != null && t.numel() != tensors[0].numel()) {
                throw new IllegalArgumentException(op + ": " + t.describe() + " and " + tensors[0].describe() + " differ in size");
            }
        }
    }

    /** t *= factor */
    public static void scale(Tensor t, double factor) {
        requireContiguousF32("scale", t);
        t.backend().unary(Ops.Unary.MUL_SCALAR, (float) factor, t, t);
    }

    /** dst = src (same shape; dtype converts; any strides; src may be on another device, e.g. a file's tensor). */
    public static void copy(Tensor src, Tensor dst) {
        if (!Arrays.equals(src.shape(), dst.shape())) {
            throw new IllegalArgumentException("copy: " + src.describe() + " does not match " + dst.describe());
        }
        if (src.device().equals(dst.device())) {
            dst.backend().copy(src, dst);
            return;
        }
        try (GradMode off = GradMode.noGrad(); Tensor moved = src.to(dst.device())) {
            dst.backend().copy(moved, dst);
        }
    }

    /** One fused AdamW step (PyTorch's torch.optim.AdamW update), one pass over p, g, m and v. */
    public static void adamw(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                             float weightDecay, long step) {
        requireContiguousF32("adamw", p, g, m, v);
        float bc1 = (float) (1 - Math.pow(beta1, step));
        float bc2 = (float) (1 - Math.pow(beta2, step));
        p.backend().adamw(p, g, m, v, lr, beta1, beta2, eps, weightDecay, bc1, bc2);
    }

    /** One fused SGD step (PyTorch's torch.optim.SGD update); buf may be null when momentum is 0. */
    public static void sgd(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening, float weightDecay,
                           boolean nesterov, boolean firstStep) {
        requireContiguousF32("sgd", p, g, buf);
        p.backend().sgd(p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    /** sum += (square ? x*x : x) with Kahan compensation carried in comp (all contiguous f32, one size). */
    public static void kahanAccumulate(Tensor x, boolean square, Tensor sum, Tensor comp) {
        requireContiguousF32("kahanAccumulate", x, sum, comp);
        sum.backend().kahanAccumulate(x, square, sum, comp);
    }

    /** Solves a x = b for symmetric positive definite a [n, n]: b [n, k] becomes x, a is overwritten. */
    public static void solvePositiveDefinite(Tensor a, Tensor b) {
        requireContiguousF32("solvePositiveDefinite", a);
        requireContiguousF32("solvePositiveDefinite", b);
        if (a.rank() != 2 || a.dim(0) != a.dim(1) || b.rank() != 2 || b.dim(0) != a.dim(0)) {
            throw new IllegalArgumentException("solvePositiveDefinite: needs a [n, n] and b [n, k], got " + a.describe() + " and "
                    + b.describe());
        }
        a.backend().solvePositiveDefinite(a, b);
    }
}
