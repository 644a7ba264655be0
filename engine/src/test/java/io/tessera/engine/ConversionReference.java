package io.tessera.engine;

import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * Element conversions between dtypes as {@code Tensor.to} specifies them (PyTorch's {@code to(dtype)}),
 * written independently of the kernels: exact values through BigInteger and BigDecimal, floats rounded by
 * Java's own casts. Elements are their little-endian bits in the low bytes of a long.
 */
final class ConversionReference {
    private ConversionReference() {}

    /** The bits of element {@code bits} of {@code from} converted to {@code to}. */
    static long convert(DType from, long bits, DType to) {
        if (from.isFloatingPoint()) {
            double v = floatValue(from, bits);
            return to.isFloatingPoint() ? floatBits(to, v) : integerBits(to, truncateAndSaturate(v, to));
        }
        BigInteger v = integerValue(from, bits);
        if (!to.isFloatingPoint()) {
            return integerBits(to, v); // the low bits: two's complement wrap
        }
        // one rounding to float (or double), then float -> bf16/f16 as PyTorch does
        return to == DType.F64 ? Double.doubleToRawLongBits(v.doubleValue()) : floatBits(to, v.floatValue());
    }

    /** Whether bits {@code a} and {@code b} of {@code dtype} are the same value (any NaN equals any NaN). */
    static boolean same(DType dtype, long a, long b) {
        return a == b || dtype.isFloatingPoint() && Double.isNaN(floatValue(dtype, a)) && Double.isNaN(floatValue(dtype, b));
    }

    static double floatValue(DType dtype, long bits) {
        return switch (dtype) {
            case F64 -> Double.longBitsToDouble(bits);
            case F32 -> Float.intBitsToFloat((int) bits);
            case BF16 -> Float.intBitsToFloat((int) bits << 16);
            case F16 -> Float.float16ToFloat((short) bits);
            default -> throw new IllegalArgumentException(dtype + " is not a float type");
        };
    }

    static BigInteger integerValue(DType dtype, long bits) {
        return switch (dtype) {
            case BOOL -> BigInteger.valueOf((bits & 0xff) != 0 ? 1 : 0);
            case I8 -> BigInteger.valueOf((byte) bits);
            case I16 -> BigInteger.valueOf((short) bits);
            case I32 -> BigInteger.valueOf((int) bits);
            case I64 -> BigInteger.valueOf(bits);
            case U8, U16, U32, U64 -> new BigInteger(Long.toUnsignedString(bits & mask(dtype)));
            default -> throw new IllegalArgumentException(dtype + " is not an integer type");
        };
    }

    /** All ones in the dtype's bytes. */
    static long mask(DType dtype) {
        return dtype.byteSize() == 8 ? -1L : (1L << (8 * dtype.byteSize())) - 1;
    }

    /** bf16 rounding to nearest even of a float (NaN stays NaN). */
    static float bf16(float v) {
        if (Float.isNaN(v)) {
            return Float.NaN;
        }
        int bits = Float.floatToRawIntBits(v);
        int lower = bits & 0xffff;
        int upper = bits >>> 16;
        if (lower > 0x8000 || (lower == 0x8000 && (upper & 1) == 1)) {
            upper++;
        }
        return Float.intBitsToFloat(upper << 16);
    }

    /** Float {@code v} rounded to the float dtype {@code to}, as bits. */
    private static long floatBits(DType to, double v) {
        return switch (to) {
            case F64 -> Double.doubleToRawLongBits(v);
            case F32 -> Float.floatToRawIntBits((float) v) & mask(to);
            case BF16 -> Float.floatToRawIntBits(bf16((float) v)) >>> 16;
            case F16 -> Float.floatToFloat16((float) v) & mask(to);
            default -> throw new IllegalArgumentException(to + " is not a float type");
        };
    }

    /** v truncated toward zero and clamped to the range of {@code to}; NaN is 0; for BOOL, v != 0. */
    private static BigInteger truncateAndSaturate(double v, DType to) {
        if (to == DType.BOOL) {
            return v != 0 ? BigInteger.ONE : BigInteger.ZERO;
        }
        if (Double.isNaN(v)) {
            return BigInteger.ZERO;
        }
        boolean unsigned = to.name().startsWith("U");
        int bits = 8 * to.byteSize();
        BigInteger min = unsigned ? BigInteger.ZERO : BigInteger.ONE.shiftLeft(bits - 1).negate();
        BigInteger max = BigInteger.ONE.shiftLeft(unsigned ? bits : bits - 1).subtract(BigInteger.ONE);
        if (Double.isInfinite(v)) {
            return v > 0 ? max : min;
        }
        return new BigDecimal(v).toBigInteger().max(min).min(max);
    }

    private static long integerBits(DType to, BigInteger v) {
        if (to == DType.BOOL) {
            return v.signum() != 0 ? 1 : 0;
        }
        return v.longValue() & mask(to);
    }
}
