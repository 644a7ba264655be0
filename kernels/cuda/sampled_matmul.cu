// Entries of a^T b at listed places only (SDDMM), the CUDA twin of kernels/cpu/sampled_matmul.c: for a [r, m]
// and b [r, n] row-major, y[j] = sum over t of a[t, idx[j] / n] * b[t, idx[j] % n], idx sorted, unique and in
// [0, m * n) (Java validated it). One thread per listed entry, summing over the r batch rows in order.
#include <stdint.h>

#include "grid.cuh"
#include "tessera/ts_index.h"

extern "C" __global__ void ts_sampled_matmul_f32(int64_t r, int64_t m, int64_t n, const float *a, const float *b, int64_t k, const void *idx, int idx_bytes, float *y) {
    TS_GRID_STRIDE(j, k) {
        const int64_t i = ts_index_at(idx, idx_bytes, j);
        const int64_t row = i / n;
        const int64_t col = i % n;
        float sum = 0.0f;
        for (int64_t t = 0; t < r; t++) sum = fmaf(a[t * m + row], b[t * n + col], sum);
        y[j] = sum;
    }
}
