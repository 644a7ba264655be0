package io.tessera.sparse;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.ffi.TesseraCpu;
import java.lang.foreign.MemorySegment;

/**
 * The masked optimizer kernels of kernels/cpu/masked_optim.c, with the Java-side checks the C side
 * trusts: dtypes, contiguity, sizes and writability. Index lists come from validated {@link TensorMask}s
 * (sorted, unique, in range), so they are not re-scanned per step.
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
        check(TesseraCpu.ts_adamw_indexed_f32(indices.numel(), read(indices), indices.dtype().byteSize(), write(p), read(g),
                write(m), write(v), lr, beta1, beta2, eps, weightDecay, biasCorrection(beta1, step),
                biasCorrection(beta2, step)), "ts_adamw_indexed_f32");
    }

    static void adamwMasked(Tensor mask, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                            float eps, float weightDecay, long step) {
        checkMasked(mask, p, g, m, v);
        check(TesseraCpu.ts_adamw_masked_f32(p.numel(), read(mask), write(p), read(g), write(m), write(v), lr, beta1, beta2,
                eps, weightDecay, biasCorrection(beta1, step), biasCorrection(beta2, step)), "ts_adamw_masked_f32");
    }

    /** buf may be null when momentum is 0. */
    static void sgdIndexed(Tensor indices, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                           float weightDecay, boolean nesterov, boolean firstStep) {
        checkIndexed(indices, p, g, buf);
        check(TesseraCpu.ts_sgd_indexed_f32(indices.numel(), read(indices), indices.dtype().byteSize(), write(p), read(g),
                write(buf), lr, momentum, dampening, weightDecay, nesterov ? 1 : 0, firstStep ? 1 : 0), "ts_sgd_indexed_f32");
    }

    static void sgdMasked(Tensor mask, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                          float weightDecay, boolean nesterov, boolean firstStep) {
        checkMasked(mask, p, g, buf);
        check(TesseraCpu.ts_sgd_masked_f32(p.numel(), read(mask), write(p), read(g), write(buf), lr, momentum, dampening,
                weightDecay, nesterov ? 1 : 0, firstStep ? 1 : 0), "ts_sgd_masked_f32");
    }

    /** p and g full-size f32; the state (null entries skipped) one f32 per listed index. */
    private static void checkIndexed(Tensor indices, Tensor p, Tensor g, Tensor... state) {
        if ((indices.dtype() != DType.I32 && indices.dtype() != DType.I64) || indices.rank() != 1) {
            throw new IllegalArgumentException("masked step: indices must be a 1-D int32 or int64 tensor, not " + indices.describe());
        }
        checkF32(p.numel(), p, g);
        checkF32(indices.numel(), state);
    }

    /** mask u8, p, g and the state (null entries skipped) f32, all of p's size. */
    private static void checkMasked(Tensor mask, Tensor p, Tensor g, Tensor... state) {
        if (mask.dtype() != DType.U8 || mask.numel() != p.numel()) {
            throw new IllegalArgumentException("masked step: the mask must be u8 with " + p.numel() + " elements, not "
                    + mask.describe());
        }
        checkF32(p.numel(), p, g);
        checkF32(p.numel(), state);
    }

    private static void checkF32(long numel, Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null && (t.dtype() != DType.F32 || t.numel() != numel || !t.isContiguous())) {
                throw new IllegalArgumentException("masked step: needs contiguous f32 tensors of " + numel + " elements, got "
                        + t.describe());
            }
        }
    }

    private static MemorySegment read(Tensor t) {
        return HostTensors.bytes(t, "masked step operand");
    }

    private static MemorySegment write(Tensor t) {
        return t == null ? MemorySegment.NULL : HostTensors.writableBytes(t, "masked step output");
    }

    private static void check(int status, String kernel) {
        if (status != TesseraCpu.TS_OK) {
            throw new IllegalStateException(kernel + " returned status " + status);
        }
    }
}
