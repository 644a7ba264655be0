/* Per-element math shared by the CPU (C11) and CUDA kernels, so the CPU tests also check the
 * arithmetic the GPU runs. Everything here is a TS_HD function: static inline on the host,
 * __host__ __device__ under nvcc. */
#ifndef TESSERA_TS_MATH_H
#define TESSERA_TS_MATH_H

#include <math.h>

#ifdef __CUDACC__
#define TS_HD static inline __host__ __device__
#else
#define TS_HD static inline
#endif

/* y <- a*x + y for one element. Written as a fused multiply-add on purpose: both gcc (with FMA
 * enabled) and nvcc contract it to one rounding, so CPU and GPU agree bit for bit. */
TS_HD float ts_axpy_elem(float a, float x, float y) { return a * x + y; }

#define TS_SQRT_2_OVER_PI 0.7978845608028654f
#define TS_GELU_CUBIC 0.044715f
#define TS_INV_SQRT_2 0.7071067811865476f
#define TS_INV_SQRT_2PI 0.3989422804014327f

/* Sigmoid and SiLU from e = exp(-x), for the same reason as GELU's tanh form below: the CPU kernels pass their
 * vectorised exp (libm's scalar expf call was most of SiLU's time in a LLaMA prefill profile), the CUDA kernels expf. */
TS_HD float ts_sigmoid_from_exp(float e) { return 1.0f / (1.0f + e); }

TS_HD float ts_sigmoid(float x) { return ts_sigmoid_from_exp(expf(-x)); }

/* x / (1 + e^-x): one rounding; e = +inf (x < -88) gives -0 as x * sigmoid(x) does, and x = -inf NaN as it does. */
TS_HD float ts_silu_from_exp(float x, float e) { return x / (1.0f + e); }

/* SiLU's derivative s (1 + x (1 - s)), s = sigmoid(x) = 1 / (1 + e), from e = exp(-x) likewise. */
TS_HD float ts_silu_grad_from_exp(float x, float e) {
    const float s = ts_sigmoid_from_exp(e);
    return s * (1.0f + x * (1.0f - s));
}

/* The bits of a float and back (union reads: well defined in C and accepted by nvcc). */
TS_HD unsigned ts_float_bits(float v) {
    union {
        float f;
        unsigned u;
    } b = {.f = v};
    return b.u;
}

TS_HD float ts_float_from_bits(unsigned u) {
    union {
        unsigned u;
        float f;
    } b = {.u = u};
    return b.f;
}

/* IEEE 754-2019 maximum and minimum, as torch.maximum and torch.minimum: NaN if either operand is NaN
 * (fmaxf and the SSE/AVX max instructions return the other operand instead), and -0 < +0 whatever the
 * operand order. The result's bits are picked with masks, not ?: (which gcc does not vectorise here): p
 * or q where one wins, on a tie (equal bits, or zeros of both signs) the and (maximum) or the or
 * (minimum) of both, and p + q, a NaN, where either is NaN. */
TS_HD float ts_pick_extremum(float p, float q, int p_wins, int q_wins, unsigned tie) {
    const unsigned nan = 0u - (unsigned)(p != p || q != q);
    const unsigned mp = 0u - (unsigned)p_wins, mq = 0u - (unsigned)q_wins;
    return ts_float_from_bits((ts_float_bits(p) & mp) | (ts_float_bits(q) & mq) | (tie & ~(mp | mq | nan)) |
                              (ts_float_bits(p + q) & nan));
}

TS_HD float ts_maximum(float p, float q) { return ts_pick_extremum(p, q, p > q, q > p, ts_float_bits(p) & ts_float_bits(q)); }

TS_HD float ts_minimum(float p, float q) { return ts_pick_extremum(p, q, p < q, q < p, ts_float_bits(p) | ts_float_bits(q)); }

/* maximum(x, 0): relu(NaN) is NaN, so corrupted values are not hidden */
TS_HD float ts_relu(float x) { return ts_maximum(x, 0.0f); }

/* GELU, tanh approximation (GPT-2's "gelu_new"): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 * computed as x / (1 + e^(-2u)) (0.5 (1 + tanh u) is sigmoid(2u)), which has no cancellation and needs
 * only an exp: the CPU kernels pass their vectorised exp of ts_gelu_tanh_exp_arg(x) (a scalar tanhf call
 * per element cost ~20 ns), the CUDA kernels expf. */
TS_HD float ts_gelu_tanh_exp_arg(float x) { return -2.0f * TS_SQRT_2_OVER_PI * (x + TS_GELU_CUBIC * x * x * x); }

TS_HD float ts_gelu_tanh_from_exp(float x, float e) { return x / (1.0f + e); }

TS_HD float ts_gelu_tanh(float x) { return ts_gelu_tanh_from_exp(x, expf(ts_gelu_tanh_exp_arg(x))); }

/* Its derivative 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) u' as s + 2 x s (1 - s) u', s = sigmoid(2u) = 1 / (1 + e) from
 * the same e = exp(ts_gelu_tanh_exp_arg(x)): no tanhf, and no cancellation in 1 + tanh u for negative x. */
TS_HD float ts_gelu_tanh_grad_from_exp(float x, float e) {
    const float s = ts_sigmoid_from_exp(e);
    const float du = TS_SQRT_2_OVER_PI * (1.0f + 3.0f * TS_GELU_CUBIC * x * x);
    return s + 2.0f * x * s * (1.0f - s) * du;
}

TS_HD float ts_gelu_tanh_grad(float x) { return ts_gelu_tanh_grad_from_exp(x, expf(ts_gelu_tanh_exp_arg(x))); }

/* GELU, exact form: x * Phi(x) with Phi the standard normal CDF */
TS_HD float ts_gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * TS_INV_SQRT_2)); }

TS_HD float ts_gelu_erf_grad(float x) {
    return 0.5f * (1.0f + erff(x * TS_INV_SQRT_2)) + x * TS_INV_SQRT_2PI * expf(-0.5f * x * x);
}

TS_HD float ts_silu(float x) { return ts_silu_from_exp(x, expf(-x)); }

TS_HD float ts_silu_grad(float x) { return ts_silu_grad_from_exp(x, expf(-x)); }

/* One step of Kahan's compensated summation: sum += v, carrying the lost low bits in comp, so long
 * float32 accumulations (e.g. Fisher information over thousands of examples) stay accurate. */
TS_HD void ts_kahan_add(float *sum, float *comp, float v) {
    float y = v - *comp;
    float t = *sum + y;
    *comp = (t - *sum) - y;
    *sum = t;
}

/* Non-negative finite floats (and -0) are valid selection scores; NaN, infinities and negatives are not. */
TS_HD int ts_valid_score(float v) {
    const unsigned u = ts_float_bits(v);
    return u < 0x7f800000u || u == 0x80000000u;
}

/* Order-preserving key of a non-negative float (both zeros map to 0), for radix selection. */
TS_HD unsigned ts_nonneg_key(float v) {
    const unsigned u = ts_float_bits(v);
    return (u & 0x80000000u) ? 0u : u;
}

/* Model m's weight in a Fisher merge at one parameter: w_m max(scale_m F_m, floor); a NaN Fisher value
 * makes the merged parameter NaN rather than being floored away. */
TS_HD float ts_fisher_merge_weight(float weight, float scale, float fisher, float floor_value) {
    return weight * ts_maximum(scale * fisher, floor_value);
}

/* Blockwise 8-bit quantization (absmax per block, as bitsandbytes): scale = absmax / 127 and
 * q = round-half-even(x / scale), so |x - q * scale| <= scale / 2. An all-zero block has scale 0 and q 0. */
TS_HD float ts_q8_scale(float absmax) { return absmax / 127.0f; }

TS_HD signed char ts_q8_quantize(float x, float scale) {
    float r = scale > 0.0f ? rintf(x / scale) : 0.0f;
    r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
    return (signed char)r;
}

TS_HD float ts_q8_dequantize(signed char q, float scale) { return (float)q * scale; }

/* Epilogue of an int8 product: the exact int32 dot product of two code vectors times both scales, plus bias. */
TS_HD float ts_q8_epilogue(int dot, float x_scale, float w_scale, float bias) {
    return fmaf((float)dot, x_scale * w_scale, bias);
}

#endif
