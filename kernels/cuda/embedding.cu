// Embedding lookup out[i, :] = weight[idx[i], :] (int32 indices when idx_bytes == 4, int64 when 8), and
// its backward, which ADDS gout[i, :] into gweight[idx[i], :]. Backward gives each thread a column and
// walks all indices in order, as kernels/cpu/embedding.c does: no atomics, and every element is summed in
// the same order on every run and on both devices.
#include <stdint.h>

#include "grid.cuh"
#include "tessera/ts_index.h"

extern "C" __global__ void ts_embedding_f32(int64_t n, int64_t dim, const float *weight, const void *idx, int idx_bytes, float *out) {
    TS_GRID_STRIDE(e, n * dim) out[e] = weight[ts_index_at(idx, idx_bytes, e / dim) * dim + e % dim];
}

extern "C" __global__ void ts_embedding_backward_f32(int64_t n, int64_t dim, const float *gout, const void *idx, int idx_bytes, float *gweight) {
    TS_GRID_STRIDE(c, dim) {
        for (int64_t i = 0; i < n; i++) gweight[ts_index_at(idx, idx_bytes, i) * dim + c] += gout[i * dim + c];
    }
}
