/* Scalar dtype conversions, shared by the CPU and CUDA kernels; PyTorch's tensor.to(dtype) semantics where
 * it defines them:
 * - float -> float rounds to nearest even (NaN stays NaN, overflow is infinity);
 * - float -> integer truncates toward zero; out of range it saturates to the type's bounds, NaN -> 0 (C
 *   leaves that undefined, PyTorch's result depends on the platform);
 * - integer -> integer keeps the low bits (two's complement wrap, as PyTorch);
 * - integer -> float rounds to nearest even once;
 * - anything -> bool is x != 0 (NaN -> true). */
#ifndef TESSERA_TS_CONVERT_H
#define TESSERA_TS_CONVERT_H

#include <stdint.h>

#include "tessera/ts_math.h"
#include "tessera/ts_ops.h"

typedef union {
    float f;
    uint32_t u;
} ts_f32_bits;

/* Without branches, so that loops of it vectorize (copy.c, gemm_panels.c's rounded rows). */
TS_HD uint16_t ts_f32_to_bf16(float f) {
    ts_f32_bits b = {.f = f};
    const uint32_t nearest = (b.u + 0x7fffu + ((b.u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (b.u >> 16) | 0x40u;
    return (uint16_t)((b.u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : nearest);
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

/* Element loads and stores of any dtype (codes in ts_ops.h), for the strided copy and fill of both
 * devices. Integers travel as int64 (u64 as its bit pattern), floats as double. */
TS_HD int ts_dtype_size(int dtype) {
    switch (dtype) {
    case TS_F64: case TS_I64: case TS_U64: return 8;
    case TS_F32: case TS_I32: case TS_U32: return 4;
    case TS_BF16: case TS_F16: case TS_I16: case TS_U16: return 2;
    default: return 1;
    }
}

TS_HD int ts_dtype_is_float(int dtype) {
    return dtype == TS_F32 || dtype == TS_BF16 || dtype == TS_F16 || dtype == TS_F64;
}

TS_HD double ts_load_float(int dtype, const void *p) {
    switch (dtype) {
    case TS_F64: return *(const double *)p;
    case TS_BF16: return ts_bf16_to_f32(*(const uint16_t *)p);
    case TS_F16: return ts_f16_to_f32(*(const uint16_t *)p);
    default: return *(const float *)p;
    }
}

TS_HD int64_t ts_load_int(int dtype, const void *p) {
    switch (dtype) {
    case TS_I8: return *(const int8_t *)p;
    case TS_U8: return *(const uint8_t *)p;
    case TS_BOOL: return *(const uint8_t *)p != 0;
    case TS_I16: return *(const int16_t *)p;
    case TS_U16: return *(const uint16_t *)p;
    case TS_I32: return *(const int32_t *)p;
    case TS_U32: return *(const uint32_t *)p;
    default: return *(const int64_t *)p; /* I64, and U64 as its bits */
    }
}

/* Float stores round to nearest even; f64 -> bf16/f16 rounds through f32, as PyTorch's conversion does. */
TS_HD void ts_store_float(int dtype, void *p, double v) {
    switch (dtype) {
    case TS_F64: *(double *)p = v; break;
    case TS_BF16: *(uint16_t *)p = ts_f32_to_bf16((float)v); break;
    case TS_F16: *(uint16_t *)p = ts_f32_to_f16((float)v); break;
    default: *(float *)p = (float)v; break;
    }
}

/* Integer stores keep the low bits (two's complement wrap); unsigned casts make that defined C. */
TS_HD void ts_store_int(int dtype, void *p, int64_t v) {
    switch (dtype) {
    case TS_I8: case TS_U8: *(uint8_t *)p = (uint8_t)v; break;
    case TS_BOOL: *(uint8_t *)p = v != 0; break;
    case TS_I16: case TS_U16: *(uint16_t *)p = (uint16_t)v; break;
    case TS_I32: case TS_U32: *(uint32_t *)p = (uint32_t)v; break;
    default: *(uint64_t *)p = (uint64_t)v; break;
    }
}

/* v truncated toward zero and clamped to [lo, hi], NaN -> 0. The bounds compare as doubles: exact, but for
 * INT64_MAX, which rounds up to 2^63, the first value that no longer fits. */
TS_HD int64_t ts_saturate(double v, int64_t lo, int64_t hi) {
    if (v != v) return 0;
    if (v <= (double)lo) return lo;
    if (v >= (double)hi) return hi;
    return (int64_t)v;
}

TS_HD uint64_t ts_saturate_u64(double v) {
    if (!(v > 0.0)) return 0; /* NaN too */
    if (v >= 18446744073709551616.0) return UINT64_MAX;
    return (uint64_t)v;
}

TS_HD void ts_store_int_from_float(int dtype, void *p, double v) {
    switch (dtype) {
    case TS_I8: ts_store_int(dtype, p, ts_saturate(v, INT8_MIN, INT8_MAX)); break;
    case TS_U8: ts_store_int(dtype, p, ts_saturate(v, 0, UINT8_MAX)); break;
    case TS_BOOL: *(uint8_t *)p = v != 0.0; break;
    case TS_I16: ts_store_int(dtype, p, ts_saturate(v, INT16_MIN, INT16_MAX)); break;
    case TS_U16: ts_store_int(dtype, p, ts_saturate(v, 0, UINT16_MAX)); break;
    case TS_I32: ts_store_int(dtype, p, ts_saturate(v, INT32_MIN, INT32_MAX)); break;
    case TS_U32: ts_store_int(dtype, p, ts_saturate(v, 0, UINT32_MAX)); break;
    case TS_U64: *(uint64_t *)p = ts_saturate_u64(v); break;
    default: *(int64_t *)p = ts_saturate(v, INT64_MIN, INT64_MAX); break;
    }
}

/* An integer to a float dtype in one rounding (not through double, which would round i64/u64 twice). */
TS_HD void ts_store_float_from_int(int dtype, void *p, int64_t v, int is_u64) {
    if (dtype == TS_F64) {
        *(double *)p = is_u64 ? (double)(uint64_t)v : (double)v;
        return;
    }
    float f = is_u64 ? (float)(uint64_t)v : (float)v;
    switch (dtype) {
    case TS_BF16: *(uint16_t *)p = ts_f32_to_bf16(f); break;
    case TS_F16: *(uint16_t *)p = ts_f32_to_f16(f); break;
    default: *(float *)p = f; break;
    }
}

/* One element of a copy from src_dtype to dst_dtype. */
TS_HD void ts_convert_elem(int src_dtype, const void *src, int dst_dtype, void *dst) {
    if (ts_dtype_is_float(src_dtype)) {
        double v = ts_load_float(src_dtype, src);
        if (ts_dtype_is_float(dst_dtype)) {
            ts_store_float(dst_dtype, dst, v);
        } else {
            ts_store_int_from_float(dst_dtype, dst, v);
        }
    } else {
        int64_t v = ts_load_int(src_dtype, src);
        if (ts_dtype_is_float(dst_dtype)) {
            ts_store_float_from_int(dst_dtype, dst, v, src_dtype == TS_U64);
        } else {
            ts_store_int(dst_dtype, dst, v);
        }
    }
}

/* What ts_fill writes: the value converted as an f64 element would be. */
TS_HD void ts_fill_elem(int dtype, void *p, double value) {
    ts_convert_elem(TS_F64, &value, dtype, p);
}

#endif
