/* Blockwise dynamic 8-bit quantization of activations (the pipeline's wire format): one float32 absmax
 * scale per block of `block` consecutive values, int8 codes; one pass each way, parallel over blocks. */
#include <math.h>

#include "ts_cpu.h"


int TS_FN(ts_quantize_blockwise_q8)(int64_t n, int64_t block, const float *restrict x, int8_t *restrict q,
                                    float *restrict scales) {
    const int64_t blocks = (n + block - 1) / block;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (n >= TS_PARALLEL_MIN)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t from = b * block;
        const int64_t len = n - from < block ? n - from : block;
        float absmax = 0.0f;
#pragma omp simd reduction(max : absmax)
        for (int64_t i = 0; i < len; i++) {
            const float a = fabsf(x[from + i]);
            absmax = a > absmax ? a : absmax;
        }
        int finite = 1;
#pragma omp simd reduction(& : finite)
        for (int64_t i = 0; i < len; i++) finite &= isfinite(x[from + i]) != 0;
        bad |= !finite;
        const float scale = ts_q8_scale(absmax);
        scales[b] = scale;
#pragma omp simd
        for (int64_t i = 0; i < len; i++) q[from + i] = ts_q8_quantize(x[from + i], scale);
    }
    return bad ? TS_ERR_NONFINITE : TS_OK;
}

int TS_FN(ts_dequantize_blockwise_q8)(int64_t n, int64_t block, const int8_t *restrict q, const float *restrict scales,
                                      float *restrict y) {
    const int64_t blocks = (n + block - 1) / block;
#pragma omp parallel for schedule(static) if (n >= TS_PARALLEL_MIN)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t from = b * block;
        const int64_t len = n - from < block ? n - from : block;
        const float scale = scales[b];
#pragma omp simd
        for (int64_t i = 0; i < len; i++) y[from + i] = ts_q8_dequantize(q[from + i], scale);
    }
    return TS_OK;
}
