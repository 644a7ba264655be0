package io.tessera.peers;

import com.google.protobuf.ByteString;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.peers.wire.Encoding;
import io.tessera.peers.wire.WireTensor;
import io.tessera.pipeline.BlockwiseInt8;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Hidden states [batch, t, hidden] to and from the wire: raw float32, or blockwise 8-bit ({@link BlockwiseInt8}: int8
 * codes with one float32 scale per {@value #BLOCK} values, about one byte per hidden unit). Decoding checks
 * everything a peer could get wrong before it allocates anything.
 */
public final class WireTensors {
    /** Values per scale: 64 keeps the scales at 1/16 of the codes and the error local to a quarter of a head. */
    public static final int BLOCK = 64;
    private static final int MAX_BLOCK = 1 << 20;

    private WireTensors() {}

    /** {@code hidden} (F32, any device) in {@code encoding}. */
    public static WireTensor encode(Tensor hidden, Encoding encoding) {
        if (hidden.dtype() != DType.F32) {
            throw new IllegalArgumentException("hidden states must be F32, got " + hidden.describe());
        }
        Tensor host = hidden.device().equals(Device.CPU) ? hidden : hidden.to(Device.CPU);
        WireTensor.Builder out = WireTensor.newBuilder().setEncoding(encoding);
        for (long d : hidden.shape()) {
            out.addShape(d);
        }
        switch (encoding) {
            case F32 -> out.setData(ByteString.copyFrom(host.toByteArray()));
            case BLOCKWISE_INT8 -> {
                try (BlockwiseInt8.Quantized q = BlockwiseInt8.quantize(host, BLOCK)) {
                    out.setData(ByteString.copyFrom(q.codes().toByteArray()))
                            .setScales(ByteString.copyFrom(q.scales().toByteArray()))
                            .setBlock(BLOCK);
                }
            }
            default -> throw new IllegalArgumentException("unknown encoding " + encoding);
        }
        return out.build();
    }

    /**
     * The F32 tensor [batch, t, {@code hidden}] a peer sent, on the CPU (the caller owns it).
     *
     * @throws IllegalArgumentException naming what is wrong: rank, hidden size, byte counts, block size, non-finite values
     */
    public static Tensor decode(WireTensor wire, long hidden) {
        long[] shape = wire.getShapeList().stream().mapToLong(Long::longValue).toArray();
        if (shape.length != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] != hidden) {
            throw new IllegalArgumentException("hidden states must be [batch, t, " + hidden + "], got shape "
                    + wire.getShapeList());
        }
        long numel;
        try {
            numel = Math.multiplyExact(Math.multiplyExact(shape[0], shape[1]), shape[2]);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + wire.getShapeList() + " overflows");
        }
        if (numel > Integer.MAX_VALUE / Float.BYTES) {
            throw new IllegalArgumentException("shape " + wire.getShapeList() + " is larger than any message");
        }
        return switch (wire.getEncoding()) {
            case F32 -> {
                requireBytes("data", wire.getData().size(), numel * Float.BYTES);
                FloatBuffer values = floats(wire.getData());
                requireFinite("values", values);
                yield Tensor.ofBytes(wire.getData().toByteArray(), DType.F32, shape);
            }
            case BLOCKWISE_INT8 -> {
                int block = wire.getBlock();
                if (block < 1 || block > MAX_BLOCK) {
                    throw new IllegalArgumentException("block size must be in [1, " + MAX_BLOCK + "], got " + block);
                }
                long blocks = (numel + block - 1) / block;
                requireBytes("codes", wire.getData().size(), numel);
                requireBytes("scales", wire.getScales().size(), blocks * Float.BYTES);
                requireFinite("scales", floats(wire.getScales()));
                try (Tensor codes = Tensor.ofBytes(wire.getData().toByteArray(), DType.I8, numel);
                     Tensor scales = Tensor.ofBytes(wire.getScales().toByteArray(), DType.F32, blocks)) {
                    yield BlockwiseInt8.dequantize(new BlockwiseInt8.Quantized(codes, scales, shape, block));
                }
            }
            default -> throw new IllegalArgumentException("unknown encoding " + wire.getEncodingValue());
        };
    }

    private static void requireBytes(String what, long actual, long expected) {
        if (actual != expected) {
            throw new IllegalArgumentException(what + ": " + actual + " bytes, the shape needs " + expected);
        }
    }

    private static FloatBuffer floats(ByteString bytes) {
        return bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    }

    private static void requireFinite(String what, FloatBuffer values) {
        for (int i = 0; i < values.limit(); i++) {
            if (!Float.isFinite(values.get(i))) {
                throw new IllegalArgumentException(what + ": non-finite value " + values.get(i) + " at " + i);
            }
        }
    }

    /** Bytes of {@code wire} on the wire's payload (codes/values plus scales). */
    public static long payloadBytes(WireTensor wire) {
        return (long) wire.getData().size() + wire.getScales().size();
    }
}
