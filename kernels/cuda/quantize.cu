// Int8 kernels, as kernels/cpu/quantize.c and gemm_q8.c compute them, with the per-element math of
// tessera/ts_math.h: blockwise absmax quantization (one CUDA block per quantization block), per-row
// quantization, LLM.int8's outlier columns, and the int8 products. A non-finite input sets *bad to 1
// (Java zeroes it before and reads it after), where the CPU kernels return TS_ERR_NONFINITE.
#include <stdint.h>

#include "block_reduce.cuh"
#include "grid.cuh"
#include "tessera/ts_math.h"
#include "vec4.cuh"

// Block absmax over x[0, len), skipping the columns flagged in exclude (may be NULL); sets *bad if any
// value, flagged or not, is not finite. Four columns a thread where `vector` (vec4.cuh).
__device__ static inline float ts_q8_absmax(bool vector, const float *x, int64_t len, const uint8_t *exclude, int *bad) {
    float absmax = 0.0f;
    int finite = 1;
    const auto take = [&](float value, bool excluded) {
        const float a = excluded ? 0.0f : fabsf(value);
        absmax = a > absmax ? a : absmax;
        finite &= isfinite(value) != 0;
    };
    ts_block_cols4(
        vector, len,
        [&](int64_t c4) {
            const ts_quad<float> xq = ts_load4(x, c4);
            const ts_quad<uint8_t> eq = exclude ? ts_load4(exclude, c4) : ts_quad<uint8_t>{};
            for (int k = 0; k < 4; k++) take(xq.v[k], eq.v[k] != 0);
        },
        [&](int64_t c) { take(x[c], exclude && exclude[c]); });
    absmax = ts_block_max(absmax);
    if (!ts_block_all(finite) && threadIdx.x == 0) *bad = 1;
    return absmax;
}

// q[0, len) = x quantized with scale, 0 in the columns flagged in exclude (may be NULL).
__device__ static inline void ts_q8_quantize_span(bool vector, const float *x, int64_t len, const uint8_t *exclude, float scale, int8_t *q) {
    const auto code = [&](float value, bool excluded) { return excluded ? (int8_t)0 : (int8_t)ts_q8_quantize(value, scale); };
    ts_block_cols4(
        vector, len,
        [&](int64_t c4) {
            const ts_quad<float> xq = ts_load4(x, c4);
            const ts_quad<uint8_t> eq = exclude ? ts_load4(exclude, c4) : ts_quad<uint8_t>{};
            ts_quad<int8_t> qq;
            for (int k = 0; k < 4; k++) qq.v[k] = code(xq.v[k], eq.v[k] != 0);
            ts_store4(q, c4, qq);
        },
        [&](int64_t c) { q[c] = code(x[c], exclude && exclude[c]); });
}

// Java launches a quarter of a row's (or block's) columns in threads, as a thread takes four where aligned.
extern "C" __global__ void ts_quantize_blockwise_q8(int64_t n, int64_t block, const float *x, int8_t *q, float *scales, int *bad) {
    const bool vector = block % 4 == 0 && ts_vec4_aligned(x) && ts_vec4_aligned(q);
    TS_BLOCK_ROWS(b, (n + block - 1) / block) {
        const int64_t from = b * block;
        const int64_t len = n - from < block ? n - from : block;
        const float scale = ts_q8_scale(ts_q8_absmax(vector, x + from, len, nullptr, bad));
        if (threadIdx.x == 0) scales[b] = scale;
        ts_q8_quantize_span(vector, x + from, len, nullptr, scale, q + from);
    }
}

extern "C" __global__ void ts_dequantize_blockwise_q8(int64_t n, int64_t block, const int8_t *q, const float *scales, float *y) {
    ts_grid_stride4(
        block % 4 == 0 && ts_vec4_aligned(q) && ts_vec4_aligned(y), n,
        [&](int64_t i4) {
            const ts_quad<int8_t> qq = ts_load4(q, i4);
            const float scale = scales[4 * i4 / block];
            ts_quad<float> yq;
            for (int k = 0; k < 4; k++) yq.v[k] = ts_q8_dequantize(qq.v[k], scale);
            ts_store4(y, i4, yq);
        },
        [&](int64_t i) { y[i] = ts_q8_dequantize(q[i], scales[i / block]); });
}

extern "C" __global__ void ts_quantize_rows_q8(int64_t rows, int64_t cols, const float *x, const uint8_t *exclude, int8_t *q, float *scales, int *bad) {
    const bool vector = cols % 4 == 0 && ts_vec4_aligned(x) && ts_vec4_aligned(q) && ts_vec4_aligned(exclude);
    TS_BLOCK_ROWS(r, rows) {
        const float scale = ts_q8_scale(ts_q8_absmax(vector, x + r * cols, cols, exclude, bad));
        if (threadIdx.x == 0) scales[r] = scale;
        ts_q8_quantize_span(vector, x + r * cols, cols, exclude, scale, q + r * cols);
    }
}

// flags[c] = 1 where some |x[r, c]| > threshold, else 0.
extern "C" __global__ void ts_q8_outlier_columns(int64_t rows, int64_t cols, const float *x, float threshold, uint8_t *flags) {
    TS_GRID_STRIDE(c, cols) {
        uint8_t flag = 0;
        for (int64_t r = 0; r < rows; r++) flag |= fabsf(x[r * cols + c]) > threshold;
        flags[c] = flag;
    }
}

// y[i, j] = (xq[i, :] . wq[j, :]) * xs[i] * ws[j] + bias[j], the dot product exact in int32 (k <= 65536).
extern "C" __global__ void ts_gemm_q8_f32(int64_t m, int64_t n, int64_t k, const int8_t *xq, const float *xs, const int8_t *wq, const float *ws, const float *bias, float *y) {
    TS_GRID_STRIDE(e, m * n) {
        const int64_t i = e / n, j = e % n;
        int32_t dot = 0;
        for (int64_t p = 0; p < k; p++) dot += (int32_t)xq[i * k + p] * (int32_t)wq[j * k + p];
        y[e] = ts_q8_epilogue(dot, xs[i], ws[j], bias ? bias[j] : 0.0f);
    }
}

// y[i, j] = the int8 GEMM's epilogue applied to int32 dot products acc [m, n] that cuBLASLt computed: the same
// per-row and per-channel scaling (and bias) as ts_gemm_q8_f32, so both paths give bit-identical outputs.
extern "C" __global__ void ts_q8_epilogue_f32(int64_t m, int64_t n, const int32_t *acc, const float *xs, const float *ws, const float *bias, float *y) {
    ts_grid_stride4(
        n % 4 == 0 && ts_vec4_aligned(acc) && ts_vec4_aligned(ws) && ts_vec4_aligned(bias) && ts_vec4_aligned(y), m * n,
        [&](int64_t e4) {
            const int64_t i = 4 * e4 / n, j4 = 4 * e4 % n / 4;
            const ts_quad<int32_t> aq = ts_load4(acc, e4);
            const ts_quad<float> wq = ts_load4(ws, j4);
            const ts_quad<float> bq = bias ? ts_load4(bias, j4) : ts_quad<float>{};
            ts_quad<float> yq;
            for (int k = 0; k < 4; k++) yq.v[k] = ts_q8_epilogue(aq.v[k], xs[i], wq.v[k], bq.v[k]);
            ts_store4(y, e4, yq);
        },
        [&](int64_t e) {
            const int64_t i = e / n, j = e % n;
            y[e] = ts_q8_epilogue(acc[e], xs[i], ws[j], bias ? bias[j] : 0.0f);
        });
}

// y[i, j] += sum over the listed columns c of x[i, c] * dequantize(wq[j, c], ws[j]), fused multiply-adds
// in column order as the CPU kernel does.
extern "C" __global__ void ts_gemm_q8_outliers_f32(int64_t m, int64_t n, int64_t k, const float *x, const int64_t *cols, int64_t ncols, const int8_t *wq, const float *ws, float *y) {
    TS_GRID_STRIDE(e, m * n) {
        const int64_t i = e / n, j = e % n;
        float sum = 0.0f;
        for (int64_t c = 0; c < ncols; c++) sum = fmaf(x[i * k + cols[c]], ts_q8_dequantize(wq[j * k + cols[c]], ws[j]), sum);
        y[e] += sum;
    }
}
