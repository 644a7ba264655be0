package io.tessera.pipeline;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;

/**
 * Blockwise dynamic 8-bit compression of hidden states, the form activations take between peers (after
 * bitsandbytes' blockwise quantization): the flattened tensor is cut into blocks of {@code block} values,
 * each stored as int8 codes with one float32 scale (absmax / 127). Each value comes back within half a
 * step of its block's scale: |x - dequantize(quantize(x))| <= absmax(block) / 254.
 */
public final class BlockwiseInt8 {
    private BlockwiseInt8() {}

    /** Codes [numel] (I8), scales [ceil(numel / block)] (F32), and the original shape. */
    public record Quantized(Tensor codes, Tensor scales, long[] shape, int block) implements AutoCloseable {
        @Override
        public void close() {
            codes.close();
            scales.close();
        }
    }

    public static Quantized quantize(Tensor x, int block) {
        if (block < 1) {
            throw new IllegalArgumentException("block size must be positive, got " + block);
        }
        if (x.dtype() != DType.F32) {
            throw new IllegalArgumentException("blockwise int8: needs an f32 tensor, got " + x.describe());
        }
        Tensor flat = x.contiguous();
        long blocks = (x.numel() + block - 1) / block;
        Tensor codes = Tensor.empty(DType.I8, x.numel());
        Tensor scales = Tensor.empty(DType.F32, blocks);
        flat.backend().quantizeBlockwise(flat, block, codes, scales);
        return new Quantized(codes, scales, x.shape(), block);
    }

    public static Tensor dequantize(Quantized q) {
        long blocks = (q.codes().numel() + q.block() - 1) / q.block();
        if (q.codes().dtype() != DType.I8 || q.scales().dtype() != DType.F32 || q.scales().numel() != blocks) {
            throw new IllegalArgumentException("blockwise int8: codes " + q.codes().describe() + " and scales "
                    + q.scales().describe() + " do not fit block size " + q.block());
        }
        Tensor y = Tensor.empty(DType.F32, q.codes().numel());
        y.backend().dequantizeBlockwise(q.codes().contiguous(), q.scales().contiguous(), q.block(), y);
        return y.reshape(q.shape());
    }
}
