/* Scalar dtype conversions, shared by the CPU and CUDA kernels.
 * float -> bf16/f16 round to nearest even (NaN stays NaN); float -> integer saturates (NaN -> 0), which
 * C leaves undefined; integer -> narrower integer wraps (two's complement), as PyTorch does. */
#ifndef TESSERA_TS_CONVERT_H
#define TESSERA_TS_CONVERT_H

#include <stdint.h>

#include "tessera/ts_math.h"
#include "tessera/ts_ops.h"

typedef union {
    float f;
    uint32_t u;
} ts_f32_bits;

TS_HD uint16_t ts_f32_to_bf16(float f) {
    ts_f32_bits b = {.f = f};
    if ((b.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b.u >> 16) | 0x40u); /* quiet NaN */
    b.u += 0x7fffu + ((b.u >> 16) & 1u);
    return (uint16_t)(b.u >> 16);
}

TS_HD float ts_bf16_to_f32(uint16_t h) {
    ts_f32_bits b = {.u = (uint32_t)h << 16};
    return b.f;
}

/* After F. Giesen's float_to_half_fast3_rtne: subnormals are rounded by one float addition. */
TS_HD uint16_t ts_f32_to_f16(float f) {
    ts_f32_bits b = {.f = f};
    uint32_t sign = b.u & 0x80000000u;
    uint32_t x = b.u ^ sign;
    uint16_t h;
    if (x >= 0x47800000u) { /* >= 65536 or inf: inf; NaN: quiet NaN keeping the top payload bits */
        h = x > 0x7f800000u ? (uint16_t)(0x7e00u | ((x >> 13) & 0x3ffu)) : 0x7c00;
    } else if (x < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        ts_f32_bits magic = {.u = 0x3f000000u};
        ts_f32_bits sum = {.f = (ts_f32_bits){.u = x}.f + magic.f};
        h = (uint16_t)(sum.u - magic.u);
    } else {
        uint32_t odd = (x >> 13) & 1u;
        x += 0xc8000fffu + odd; /* rebias exponent (15 - 127) << 23, plus round-half-even bias */
        h = (uint16_t)(x >> 13);
    }
    return (uint16_t)(h | (sign >> 16));
}

TS_HD float ts_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    ts_f32_bits b;
    if (exponent == 0) {
        b.f = (float)mantissa * 5.9604644775390625e-8f; /* mantissa * 2^-24, exact */
        b.u |= sign;
    } else if (exponent == 31) {
        b.u = sign | 0x7f800000u | (mantissa << 13);
    } else {
        b.u = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    }
    return b.f;
}

TS_HD int64_t ts_saturate(double v, double lo, double hi) {
    if (v != v) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

/* Element loads and stores of any dtype (codes in ts_ops.h), for the strided copy and fill of both
 * devices: floating sources convert through double, integer to integer through int64. */
TS_HD int ts_dtype_size(int dtype) {
    switch (dtype) {
    case TS_F32: case TS_I32: return 4;
    case TS_BF16: case TS_F16: return 2;
    case TS_I64: return 8;
    default: return 1;
    }
}

TS_HD int ts_dtype_is_integer(int dtype) { return dtype >= TS_I8; }

TS_HD double ts_load_f64(int dtype, const void *p) {
    switch (dtype) {
    case TS_F32: return *(const float *)p;
    case TS_BF16: return ts_bf16_to_f32(*(const uint16_t *)p);
    case TS_F16: return ts_f16_to_f32(*(const uint16_t *)p);
    case TS_I8: return *(const int8_t *)p;
    case TS_U8: return *(const uint8_t *)p;
    case TS_BOOL: return *(const uint8_t *)p != 0;
    case TS_I32: return *(const int32_t *)p;
    default: return (double)*(const int64_t *)p;
    }
}

TS_HD int64_t ts_load_i64(int dtype, const void *p) {
    switch (dtype) {
    case TS_I8: return *(const int8_t *)p;
    case TS_U8: return *(const uint8_t *)p;
    case TS_BOOL: return *(const uint8_t *)p != 0;
    case TS_I32: return *(const int32_t *)p;
    default: return *(const int64_t *)p;
    }
}

TS_HD void ts_store_f64(int dtype, void *p, double v) {
    switch (dtype) {
    case TS_F32: *(float *)p = (float)v; break;
    case TS_BF16: *(uint16_t *)p = ts_f32_to_bf16((float)v); break;
    case TS_F16: *(uint16_t *)p = ts_f32_to_f16((float)v); break;
    case TS_I8: *(int8_t *)p = (int8_t)ts_saturate(v, -128.0, 127.0); break;
    case TS_U8: *(uint8_t *)p = (uint8_t)ts_saturate(v, 0.0, 255.0); break;
    case TS_BOOL: *(uint8_t *)p = v != 0.0; break;
    case TS_I32: *(int32_t *)p = (int32_t)ts_saturate(v, -2147483648.0, 2147483647.0); break;
    default: *(int64_t *)p = ts_saturate(v, -9223372036854775808.0, 9223372036854774784.0); break;
    }
}

TS_HD void ts_store_i64(int dtype, void *p, int64_t v) {
    switch (dtype) {
    case TS_I8: *(int8_t *)p = (int8_t)v; break;
    case TS_U8: *(uint8_t *)p = (uint8_t)v; break;
    case TS_BOOL: *(uint8_t *)p = v != 0; break;
    case TS_I32: *(int32_t *)p = (int32_t)v; break;
    default: *(int64_t *)p = v; break;
    }
}

/* One element of a copy from src_dtype to dst_dtype. */
TS_HD void ts_convert_elem(int src_dtype, const void *src, int dst_dtype, void *dst) {
    if (ts_dtype_is_integer(src_dtype) && ts_dtype_is_integer(dst_dtype)) {
        ts_store_i64(dst_dtype, dst, ts_load_i64(src_dtype, src));
    } else {
        ts_store_f64(dst_dtype, dst, ts_load_f64(src_dtype, src));
    }
}

/* What ts_fill writes: integers from the value truncated to int64, floats rounded from it. */
TS_HD void ts_fill_elem(int dtype, void *p, double value) {
    if (ts_dtype_is_integer(dtype)) {
        ts_store_i64(dtype, p, (int64_t)value);
    } else {
        ts_store_f64(dtype, p, value);
    }
}

#endif
