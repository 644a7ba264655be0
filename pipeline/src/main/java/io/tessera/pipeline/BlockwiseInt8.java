package io.tessera.pipeline;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Blockwise dynamic 8-bit compression of hidden states, the form activations take between peers (after
 * bitsandbytes' blockwise quantization): the flattened tensor is cut into blocks of {@code block} values,
 * each stored as int8 codes with one float32 scale (absmax / 127). Each value comes back within half a
 * step of its block's scale: |x - dequantize(quantize(x))| <= absmax(block) / 254.
 *
 * <p>It is also a storage format for weights, 4x smaller than float32 ({@link #save}): each tensor
 * {@code <name>} is stored as its I8 codes under {@code <name>} (same shape) and its scales under
 * {@code <name>}{@value #SCALE_SUFFIX}, with the block size in the metadata under {@value #BLOCK_KEY}.
 */
public final class BlockwiseInt8 {
    public static final String SCALE_SUFFIX = ".blockwise_scale";
    public static final String BLOCK_KEY = "tessera.blockwise_int8.block";

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
        Tensor codes = Tensor.empty(x.device(), DType.I8, x.numel());
        Tensor scales = Tensor.empty(x.device(), DType.F32, blocks);
        flat.backend().quantizeBlockwise(flat, block, codes, scales);
        return new Quantized(codes, scales, x.shape(), block);
    }

    public static Tensor dequantize(Quantized q) {
        if (q.block() < 1) {
            throw new IllegalArgumentException("block size must be positive, got " + q.block());
        }
        long blocks = (q.codes().numel() + q.block() - 1) / q.block();
        if (q.codes().dtype() != DType.I8 || q.scales().dtype() != DType.F32 || q.scales().numel() != blocks) {
            throw new IllegalArgumentException("blockwise int8: codes " + q.codes().describe() + " and scales "
                    + q.scales().describe() + " do not fit block size " + q.block());
        }
        if (!q.codes().device().equals(q.scales().device())) {
            throw new IllegalArgumentException("blockwise int8: codes " + q.codes().describe() + " and scales " + q.scales().describe()
                    + " are on different devices");
        }
        Tensor y = Tensor.empty(q.codes().device(), DType.F32, q.shape()); // allocated in its own shape: closing it frees it
        y.backend().dequantizeBlockwise(q.codes().contiguous(), q.scales().contiguous(), q.block(), y.reshape(q.codes().numel()));
        return y;
    }

    /** Writes float tensors blockwise-quantized (atomically); {@code extra} metadata is kept. */
    public static void save(Path file, Map<String, Tensor> tensors, int block, Map<String, String> extra) throws IOException {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> stored = new LinkedHashMap<>();
            for (var entry : tensors.entrySet()) {
                if (entry.getKey().endsWith(SCALE_SUFFIX) || !entry.getValue().dtype().isFloatingPoint()) {
                    throw new IllegalArgumentException("cannot store " + entry.getKey() + " (" + entry.getValue().describe()
                            + ") blockwise: only float tensors whose names do not end in " + SCALE_SUFFIX);
                }
                Quantized q = quantize(entry.getValue().to(DType.F32), block);
                stored.put(entry.getKey(), q.codes().reshape(q.shape()));
                stored.put(entry.getKey() + SCALE_SUFFIX, q.scales());
            }
            Map<String, String> metadata = new LinkedHashMap<>(extra);
            metadata.put(BLOCK_KEY, Integer.toString(block));
            Safetensors.write(file, stored, metadata);
        }
    }

    /** The float32 tensors of a file written by {@link #save}, dequantized (new tensors the caller owns). */
    public static Map<String, Tensor> load(SafetensorsFile file) {
        String blockValue = file.metadata().get(BLOCK_KEY);
        int block;
        try {
            block = Integer.parseInt(String.valueOf(blockValue));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(file.path() + ": not a blockwise int8 file (metadata " + BLOCK_KEY + " is "
                    + blockValue + ")");
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (var entry : file.tensors().entrySet()) {
            if (entry.getKey().endsWith(SCALE_SUFFIX)) {
                continue;
            }
            Tensor scales = file.tensors().get(entry.getKey() + SCALE_SUFFIX);
            if (scales == null) {
                throw new IllegalArgumentException(file.path() + ": tensor " + entry.getKey() + " has no " + entry.getKey() + SCALE_SUFFIX);
            }
            try {
                out.put(entry.getKey(), dequantize(new Quantized(entry.getValue().reshape(entry.getValue().numel()), scales,
                        entry.getValue().shape(), block)));
            } catch (IllegalArgumentException e) {
                out.values().forEach(Tensor::close);
                throw new IllegalArgumentException(file.path() + ": tensor " + entry.getKey() + ": " + e.getMessage(), e);
            }
        }
        return out;
    }
}
