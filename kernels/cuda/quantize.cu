// Int8 kernels, as kernels/cpu/quantize.c and gemm_q8.c compute them, with the per-element math of
// tessera/ts_math.h: blockwise absmax quantization (one CUDA block per quantization block), per-row
// quantization, LLM.int8's outlier columns, and the int8 products. A non-finite input sets *bad to 1
// (Java zeroes it before and reads it after), where the CPU kernels return TS_ERR_NONFINITE.
#include <stdint.h>

#include "block_reduce.cuh"
#include "grid.cuh"
#include "tessera/ts_math.h"

// Block absmax over [from, from + len) of x, skipping the columns flagged in exclude (may be NULL);
// sets *bad if any value, flagged or not, is not finite.
__device__ static inline float ts_q8_absmax(const float *x, int64_t len, const uint8_t *exclude, int *bad) {
    float absmax = 0.0f;
    int finite = 1;
    TS_BLOCK_COLS(c, len) {
        const float a = exclude && exclude[c] ? 0.0f : fabsf(x[c]);
        absmax = a > absmax ? a : absmax;
        finite &= isfinite(x[c]) != 0;
    }
    absmax = ts_block_max(absmax);
    if (!ts_block_all(finite) && threadIdx.x == 0) *bad = 1;
    return absmax;
}

extern "C" __global__ void ts_quantize_blockwise_q8(int64_t n, int64_t block, const float *x, int8_t *q, float *scales, int *bad) {
    TS_BLOCK_ROWS(b, (n + block - 1) / block) {
        const int64_t from = b * block;
        const int64_t len = n - from < block ? n - from : block;
        const float scale = ts_q8_scale(ts_q8_absmax(x + from, len, nullptr, bad));
        if (threadIdx.x == 0) scales[b] = scale;
        TS_BLOCK_COLS(i, len) q[from + i] = ts_q8_quantize(x[from + i], scale);
    }
}

extern "C" __global__ void ts_dequantize_blockwise_q8(int64_t n, int64_t block, const int8_t *q, const float *scales, float *y) {
    TS_GRID_STRIDE(i, n) y[i] = ts_q8_dequantize(q[i], scales[i / block]);
}

extern "C" __global__ void ts_quantize_rows_q8(int64_t rows, int64_t cols, const float *x, const uint8_t *exclude, int8_t *q, float *scales, int *bad) {
    TS_BLOCK_ROWS(r, rows) {
        const float scale = ts_q8_scale(ts_q8_absmax(x + r * cols, cols, exclude, bad));
        if (threadIdx.x == 0) scales[r] = scale;
        TS_BLOCK_COLS(c, cols) q[r * cols + c] = exclude && exclude[c] ? 0 : ts_q8_quantize(x[r * cols + c], scale);
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
    TS_GRID_STRIDE(e, m * n) {
        const int64_t i = e / n, j = e % n;
        y[e] = ts_q8_epilogue(acc[e], xs[i], ws[j], bias ? bias[j] : 0.0f);
    }
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
