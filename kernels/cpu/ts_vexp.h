/* expf that gcc vectorises. glibc's expf is a scalar call (its SIMD variants are only declared
 * under -ffast-math), which would keep the softmax and cross-entropy loops scalar; this one is
 * straight-line float arithmetic: k = round(x / ln 2) by the 1.5*2^23 trick, r = x - k ln 2 in
 * two parts (Cody-Waite), e^r by Cephes' degree-7 polynomial, times 2^k built from bits.
 * Relative error below 1e-7 (measured: 8.3e-8 over the whole range, on every tier). Results below
 * 2^-125 (x < -86.5) are flushed to 0, x > 88.72 gives +inf, NaN stays NaN. The kernels call it
 * on x - max <= 0, where only the flush matters: a term e^-86.5 ~ 3e-38 times the largest one does
 * not change a softmax. */
#ifndef TESSERA_TS_VEXP_H
#define TESSERA_TS_VEXP_H

#include <math.h>
#include <stdint.h>

#define TS_VEXP_HI 88.72283935546875f
#define TS_VEXP_LO -86.5f

static inline float ts_f32_from_bits(int32_t i) {
    union {
        int32_t i;
        float f;
    } u = {.i = i};
    return u.f;
}

static inline int32_t ts_bits_from_f32(float f) {
    union {
        float f;
        int32_t i;
    } u = {.f = f};
    return u.i;
}

static inline float ts_vexpf(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x > TS_VEXP_HI ? TS_VEXP_HI : x;
    xc = xc < TS_VEXP_LO ? TS_VEXP_LO : xc;
    const float kb = xc * 1.44269504088896341f + magic;
    const int32_t k = ts_bits_from_f32(kb) - 0x4B400000; /* the integer in the low mantissa bits */
    const float kf = kb - magic;
    float r = xc - kf * 0.693359375f;
    r = r + kf * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    /* 2^(k-1) then *2: k reaches 128 at the top of the range, where 2^k is not a float */
    float y = p * ts_f32_from_bits((k + 126) << 23) * 2.0f;
    y = x < TS_VEXP_LO ? 0.0f : y;
    y = x > TS_VEXP_HI ? INFINITY : y;
    return y;
}

#endif
