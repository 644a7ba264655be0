// Causal mask on a batch of tq x tk score blocks, as kernels/cpu/attention.c: query i sits at position
// past + i, so key j is in its future, and its score becomes value, when j > i + past.
#include <stdint.h>

#include "grid.cuh"

extern "C" __global__ void ts_causal_mask_f32(int64_t batch, int64_t tq, int64_t tk, int64_t past, float value, float *x) {
    TS_GRID_STRIDE(e, batch * tq * tk) {
        const int64_t i = e / tk % tq, j = e % tk;
        if (j > i + past) x[e] = value;
    }
}
