/* Embedding lookup: out[i, :] = weight[idx[i], :] for n indices (int32 when idx_bytes == 4, int64
 * when 8; Java checked them against the table size), and its backward, which ADDS gout[i, :] into
 * gweight[idx[i], :] (the caller zeroes gweight, or accumulates across calls on purpose).
 * Duplicate indices are the rule in backward (the same token many times in a batch), so threads
 * never split the index list: each owns a band of columns and walks all n indices in order. That is
 * race-free, and every element is summed in the same order as the serial loop, on any thread count. */
#include <omp.h>
#include <string.h>

#include "tessera/ts_index.h"
#include "ts_cpu.h"

/* Columns per band: a whole number of 64-byte lines, so two threads never write to one line. */
#define TS_EMB_BAND_ALIGN 16

int TS_FN(ts_embedding_f32)(int64_t n, int64_t dim, const float *restrict weight, const void *idx, int idx_bytes,
                            float *restrict out) {
    TS_PARALLEL_FOR_IF(n > 1 && n * dim >= TS_PARALLEL_MIN, omp parallel for schedule(static), i, n,
                       { memcpy(out + i * dim, weight + ts_index_at(idx, idx_bytes, i) * dim, (size_t)dim * sizeof(float)); });
    return TS_OK;
}

static void add_rows(int64_t n, int64_t dim, int64_t c0, int64_t c1, const float *restrict gout, const void *idx,
                     int idx_bytes, float *restrict gweight) {
    for (int64_t i = 0; i < n; i++) {
        float *restrict dst = gweight + ts_index_at(idx, idx_bytes, i) * dim;
        const float *restrict src = gout + i * dim;
#pragma omp simd
        for (int64_t c = c0; c < c1; c++) {
            dst[c] += src[c];
        }
    }
}

int TS_FN(ts_embedding_backward_f32)(int64_t n, int64_t dim, const float *restrict gout, const void *idx,
                                     int idx_bytes, float *restrict gweight) {
    if (n * dim < TS_PARALLEL_MIN || dim < 2 * TS_EMB_BAND_ALIGN) {
        add_rows(n, dim, 0, dim, gout, idx, idx_bytes, gweight);
        return TS_OK;
    }
#pragma omp parallel
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t lines = (dim + TS_EMB_BAND_ALIGN - 1) / TS_EMB_BAND_ALIGN;
        const int64_t c0 = lines * t / nt * TS_EMB_BAND_ALIGN;
        const int64_t c1e = lines * (t + 1) / nt * TS_EMB_BAND_ALIGN;
        const int64_t c1 = c1e < dim ? c1e : dim;
        if (c0 < c1) add_rows(n, dim, c0, c1, gout, idx, idx_bytes, gweight);
    }
    return TS_OK;
}
