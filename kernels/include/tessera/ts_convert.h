/* Scalar dtype conversions, shared by the CPU and CUDA kernels.
 * float -> bf16/f16 round to nearest even (NaN stays NaN); float -> integer saturates (NaN -> 0), which
 * C leaves undefined; integer -> narrower integer wraps (two's complement), as PyTorch does. */
#ifndef TESSERA_TS_CONVERT_H
#define TESSERA_TS_CONVERT_H

#include <stdint.h>

#include "tessera/ts_math.h"

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

#endif
