/* Attention helpers. Causal mask: for a batch of tq x tk score blocks, where query i sits at absolute
 * position past + i (past = tokens already in the KV cache) and key j at position j, key j is in the
 * future of query i when j > i + past; those scores are set to value (usually -inf, before softmax). */
#include "ts_cpu.h"

int TS_FN(ts_causal_mask_f32)(int64_t batch, int64_t tq, int64_t tk, int64_t past, float value, float *x) {
    const int64_t rows = batch * tq;
#pragma omp parallel for schedule(static) if (rows > 1 && rows * tk >= TS_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t i = r % tq;
        int64_t first = i + past + 1;
        if (first < 0) first = 0;
        float *restrict xr = x + r * tk;
#pragma omp simd
        for (int64_t j = first; j < tk; j++) {
            xr[j] = value;
        }
    }
    return TS_OK;
}
