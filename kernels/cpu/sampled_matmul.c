/* Entries of a^T b at listed places only (a "sampled dense-dense matmul", SDDMM): for a [r, m] and b [r, n],
 * both contiguous row-major, y[j] = sum over t of a[t, idx[j] / n] * b[t, idx[j] % n]. The gradient of a
 * Linear weight restricted to the k entries of a sparse mask is this product (a = the output gradient,
 * b = the input, r = the batch rows): k * r multiply-adds instead of the m * n * r of the full gradient.
 * idx is sorted, unique and in [0, m * n) (int32 when idx_bytes == 4, int64 when 8; Java validated it). */
#include "tessera/ts_index.h"
#include "ts_cpu.h"

#include <stdlib.h>

/* out[c * rows + t] = x[t * cols + c]: a column of x becomes a contiguous row, so each listed entry is one
 * dot product of two contiguous rows. */
static void transpose(int64_t rows, int64_t cols, const float *restrict x, float *restrict out) {
#pragma omp parallel for schedule(static) if (rows * cols >= TS_PARALLEL_MIN)
    for (int64_t c = 0; c < cols; c++) {
        for (int64_t t = 0; t < rows; t++) {
            out[c * rows + t] = x[t * cols + c];
        }
    }
}

int TS_FN(ts_sampled_matmul_f32)(int64_t r, int64_t m, int64_t n, const float *restrict a, const float *restrict b,
                                 int64_t k, const void *idx, int idx_bytes, float *restrict y) {
    if (k == 0) {
        return TS_OK;
    }
    float *at = malloc((size_t)(m * r) * sizeof(float) + 1);
    float *bt = malloc((size_t)(n * r) * sizeof(float) + 1);
    if (at == NULL || bt == NULL) {
        free(at);
        free(bt);
        return TS_ERR_NOMEM;
    }
    transpose(r, m, a, at);
    transpose(r, n, b, bt);
#pragma omp parallel for schedule(static) if (k * r >= TS_PARALLEL_MIN)
    for (int64_t j = 0; j < k; j++) {
        const int64_t i = ts_index_at(idx, idx_bytes, j);
        const float *ar = at + (i / n) * r;
        const float *br = bt + (i % n) * r;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t t = 0; t < r; t++) {
            sum += ar[t] * br[t];
        }
        y[j] = sum;
    }
    free(at);
    free(bt);
    return TS_OK;
}
