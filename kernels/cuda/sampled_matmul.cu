// Entries of a^T b at listed places only (SDDMM), the CUDA twin of kernels/cpu/sampled_matmul.c: for a [r, m]
// and b [r, n], y[j] = sum over t of a[t, idx[j] / n] * b[t, idx[j] % n], idx sorted, unique and in [0, m * n)
// (Java validated it). a and b come at element strides: a[t, row] at a[row * a_row + t * a_t], likewise b, so
// the same kernel reads them as stored ([r, m]: a_row = 1, a_t = m) or transposed by ts_transpose_f32 into
// [m, r] (a_row = r, a_t = 1), where each entry's dot product reads two contiguous rows.
//
// A group of `group` lanes (a power of two, at most a warp, about r) per entry, its lanes striding over t, then a
// shuffle butterfly within the group. A warp takes 32 / group consecutive entries at a time; its loop is uniform
// (lanes past k compute nothing but still shuffle), so every shuffle has its whole warp.
#include <stdint.h>

#include "block_reduce.cuh"
#include "tessera/ts_index.h"

extern "C" __global__ void ts_sampled_matmul_f32(int group, int64_t r, const float *a, int64_t a_row, int64_t a_t, const float *b, int64_t b_col, int64_t b_t, int64_t n, int64_t k, const void *idx, int idx_bytes, float *y) {
    const unsigned lane = threadIdx.x % TS_WARP;
    const int64_t per_warp = TS_WARP / group;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / TS_WARP;
    const int64_t warps = (int64_t)gridDim.x * blockDim.x / TS_WARP;
    for (int64_t first = warp * per_warp; first < k; first += warps * per_warp) {
        const int64_t j = first + lane / group;
        float sum = 0.0f;
        if (j < k) {
            const int64_t i = ts_index_at(idx, idx_bytes, j);
            const float *ar = a + i / n * a_row, *bc = b + i % n * b_col;
            for (int64_t t = lane % group; t < r; t += group) sum = fmaf(ar[t * a_t], bc[t * b_t], sum);
        }
        for (int offset = group / 2; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset, group);
        if (j < k && lane % group == 0) y[j] = sum;
    }
}
