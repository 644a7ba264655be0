package io.tessera.sparse;

import io.tessera.engine.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Single elements of any dtype in little-endian bytes (safetensors' byte order), as doubles: what
 * vetting needs to measure a change and composition needs to average values. Segments may be heap
 * byte arrays, so every layout is unaligned.
 */
final class Elements {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Elements() {}

    /** Element {@code i} of {@code data} as a double (exact but for 64-bit integers beyond 2^53). */
    static double get(MemorySegment data, DType dtype, long i) {
        long at = i * dtype.byteSize();
        return switch (dtype) {
            case F32 -> data.get(F32, at);
            case F64 -> data.get(F64, at);
            case BF16 -> Float.intBitsToFloat((data.get(I16, at) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(data.get(I16, at));
            case I8 -> data.get(ValueLayout.JAVA_BYTE, at);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, at) & 0xff;
            case I16 -> data.get(I16, at);
            case U16 -> data.get(I16, at) & 0xffff;
            case I32 -> data.get(I32, at);
            case U32 -> Integer.toUnsignedLong(data.get(I32, at));
            case I64 -> data.get(I64, at);
            case U64 -> unsignedToDouble(data.get(I64, at));
        };
    }

    /**
     * Stores {@code value} as element {@code i}, rounded to nearest-even for floating types and to the
     * nearest integer (saturating) for integer types.
     */
    static void set(MemorySegment data, DType dtype, long i, double value) {
        long at = i * dtype.byteSize();
        switch (dtype) {
            case F32 -> data.set(F32, at, (float) value);
            case F64 -> data.set(F64, at, value);
            case BF16 -> data.set(I16, at, toBf16((float) value));
            case F16 -> data.set(I16, at, Float.floatToFloat16((float) value));
            case I8 -> data.set(ValueLayout.JAVA_BYTE, at, (byte) clampRound(value, Byte.MIN_VALUE, Byte.MAX_VALUE));
            case U8 -> data.set(ValueLayout.JAVA_BYTE, at, (byte) clampRound(value, 0, 255));
            case BOOL -> data.set(ValueLayout.JAVA_BYTE, at, (byte) (value != 0 ? 1 : 0));
            case I16 -> data.set(I16, at, (short) clampRound(value, Short.MIN_VALUE, Short.MAX_VALUE));
            case U16 -> data.set(I16, at, (short) clampRound(value, 0, 0xffff));
            case I32 -> data.set(I32, at, (int) clampRound(value, Integer.MIN_VALUE, Integer.MAX_VALUE));
            case U32 -> data.set(I32, at, (int) (long) clampRound(value, 0, 0xffff_ffffL));
            case I64 -> data.set(I64, at, Math.round(value));
            case U64 -> data.set(I64, at, roundToUnsigned(value));
        }
    }

    private static double clampRound(double value, double min, double max) {
        return Math.max(min, Math.min(max, Math.rint(value)));
    }

    /** u as an unsigned 64-bit integer, rounded to nearest: halved (keeping the lowest bit, so the rounding is
     *  the same) when its top bit is set, then doubled. */
    private static double unsignedToDouble(long u) {
        return u >= 0 ? u : ((u >>> 1) | (u & 1)) * 2.0;
    }

    /** The unsigned 64-bit integer nearest {@code value}, saturating at 0 and 2^64 - 1 (NaN gives 0). */
    private static long roundToUnsigned(double value) {
        double r = Math.rint(value);
        if (!(r > 0)) {
            return 0;
        }
        if (r >= 0x1p64) {
            return -1L;
        }
        return r < 0x1p63 ? (long) r : (long) (r - 0x1p63) | Long.MIN_VALUE;
    }

    /** float -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
    private static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}
