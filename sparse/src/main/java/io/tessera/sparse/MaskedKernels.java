package io.tessera.sparse;

import io.tessera.engine.DType;
import io.tessera.engine.GradIndices;
import io.tessera.engine.Tensor;

/**
 * The masked optimizer steps of the parameter's {@link io.tessera.engine.Backend} (kernels/cpu/masked_optim.c,
 * kernels/cuda/masked_optim.cu), with the checks the kernels trust: dtypes, contiguity, sizes, one device.
 * Index lists come from validated {@link TensorMask}s (sorted, unique, in range), so they are not
 * re-scanned per step.
 */
final class MaskedKernels {
    private MaskedKernels() {}

    /** PyTorch's bias corrections 1 - beta^step, computed as engine's InPlace.adamw does (same bits). */
    private static float biasCorrection(float beta, long step) {
        return (float) (1 - Math.pow(beta, step));
    }

    static void adamwIndexed(Tensor indices, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                             float eps, float weightDecay, long step) {
        checkIndexed(indices, p, g, m, v);
        p.backend().adamwIndexed(indices, p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection(beta1, step),
                biasCorrection(beta2, step));
    }

    static void adamwMasked(Tensor mask, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                            float eps, float weightDecay, long step) {
        checkMasked(mask, p, g, m, v);
        p.backend().adamwMasked(mask, p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection(beta1, step),
                biasCorrection(beta2, step));
    }

    /** buf may be null when momentum is 0. */
    static void sgdIndexed(Tensor indices, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                           float weightDecay, boolean nesterov, boolean firstStep) {
        checkIndexed(indices, p, g, buf);
        p.backend().sgdIndexed(indices, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    static void sgdMasked(Tensor mask, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                          float weightDecay, boolean nesterov, boolean firstStep) {
        checkMasked(mask, p, g, buf);
        p.backend().sgdMasked(mask, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    /** p full-size f32, g full-size or compact; the state (null entries skipped) one f32 per listed index. */
    private static void checkIndexed(Tensor indices, Tensor p, Tensor g, Tensor... state) {
        if ((indices.dtype() != DType.I32 && indices.dtype() != DType.I64) || indices.rank() != 1 || !indices.isContiguous()) {
            throw new IllegalArgumentException("masked step: indices must be a contiguous 1-D int32 or int64 tensor, not "
                    + indices.describe());
        }
        checkF32(p.numel(), p);
        checkF32(GradIndices.isCompact(indices, g) ? indices.numel() : p.numel(), g);
        checkF32(indices.numel(), state);
        checkDevice(p, indices, g);
        checkDevice(p, state);
    }

    /** mask u8, p, g and the state (null entries skipped) f32, all of p's size. */
    private static void checkMasked(Tensor mask, Tensor p, Tensor g, Tensor... state) {
        if (mask.dtype() != DType.U8 || mask.numel() != p.numel() || !mask.isContiguous()) {
            throw new IllegalArgumentException("masked step: the mask must be contiguous u8 with " + p.numel()
                    + " elements, not " + mask.describe());
        }
        checkF32(p.numel(), p, g);
        checkF32(p.numel(), state);
        checkDevice(p, mask, g);
        checkDevice(p, state);
    }

    private static void checkF32(long numel, Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null && (t.dtype() != DType.F32 || t.numel() != numel || !t.isContiguous())) {
                throw new IllegalArgumentException("masked step: needs contiguous f32 tensors of " + numel + " elements, got "
                        + t.describe());
            }
        }
    }

    /** The kernels run on p's device and take raw addresses, so every operand must be there. */
    private static void checkDevice(Tensor p, Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null && !t.device().equals(p.device())) {
                throw new IllegalArgumentException("masked step: " + t.describe() + " is not on the parameter's device, "
                        + p.device());
            }
        }
    }
}
