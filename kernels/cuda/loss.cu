// Cross-entropy of a contiguous rows x cols matrix of logits with one int32 (label_bytes 4) or int64
// (8) class label per row, as kernels/cpu/loss.c: loss = lse - logits[label] with the log-sum-exp
// shifted by the row maximum and summed in float64 (block reductions, one block per row); backward
// glogits = (exp(logits - lse) - [j == label]) * gloss.
#include <math.h>
#include <stdint.h>

#include "block_reduce.cuh"
#include "grid.cuh"
#include "tessera/ts_index.h"

extern "C" __global__ void ts_cross_entropy_f32(int64_t rows, int64_t cols, const float *logits, const void *labels, int label_bytes, float *loss, float *lse) {
    TS_BLOCK_ROWS(r, rows) {
        const float *xr = logits + r * cols;
        float m = -INFINITY;
        TS_BLOCK_COLS(j, cols) m = xr[j] > m ? xr[j] : m;
        m = ts_block_max(m);
        double sum = 0.0;
        TS_BLOCK_COLS(j, cols) sum += (double)expf(xr[j] - m);
        const double l = (double)m + log(ts_block_sum(sum));
        if (threadIdx.x == 0) {
            lse[r] = (float)l;
            loss[r] = (float)(l - (double)xr[ts_index_at(labels, label_bytes, r)]);
        }
    }
}

extern "C" __global__ void ts_cross_entropy_backward_f32(int64_t rows, int64_t cols, const float *logits, const void *labels, int label_bytes, const float *lse, const float *gloss, float *glogits) {
    TS_BLOCK_ROWS(r, rows) {
        const float l = lse[r], g = gloss[r];
        const int64_t label = ts_index_at(labels, label_bytes, r);
        TS_BLOCK_COLS(j, cols) {
            const float p = expf(logits[r * cols + j] - l) * g;
            glogits[r * cols + j] = j == label ? p - g : p;
        }
    }
}
