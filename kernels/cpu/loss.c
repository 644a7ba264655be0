/* Cross-entropy of a contiguous rows x cols matrix of logits with one integer class label per row
 * (int32 when label_bytes == 4, int64 when 8; Java checked every label is in [0, cols)).
 * Forward writes loss[r] = lse_r - logits[r, label_r] and lse[r] = log(sum_j exp(logits[r, j])),
 * shifted by the row maximum and summed in float64; backward reuses lse:
 * glogits[r, j] = (exp(logits[r, j] - lse_r) - [j == label_r]) * gloss[r]. */
#include "tessera/ts_index.h"
#include "ts_cpu.h"
#include "ts_vexp.h"

int TS_FN(ts_cross_entropy_f32)(int64_t rows, int64_t cols, const float *restrict logits, const void *labels,
                                int label_bytes, float *restrict loss, float *restrict lse) {
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= TS_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = logits + r * cols;
        float m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int64_t j = 0; j < cols; j++) {
            m = xr[j] > m ? xr[j] : m;
        }
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < cols; j++) {
            sum += (double)ts_vexpf(xr[j] - m);
        }
        const double l = (double)m + log(sum);
        lse[r] = (float)l;
        loss[r] = (float)(l - (double)xr[ts_index_at(labels, label_bytes, r)]);
    }
    return TS_OK;
}

int TS_FN(ts_cross_entropy_backward_f32)(int64_t rows, int64_t cols, const float *restrict logits, const void *labels,
                                         int label_bytes, const float *restrict lse, const float *restrict gloss,
                                         float *restrict glogits) {
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= TS_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = logits + r * cols;
        float *restrict gr = glogits + r * cols;
        const float l = lse[r], g = gloss[r];
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) {
            gr[j] = ts_vexpf(xr[j] - l) * g;
        }
        gr[ts_index_at(labels, label_bytes, r)] -= g;
    }
    return TS_OK;
}
