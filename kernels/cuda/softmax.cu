// Softmax and log-softmax over the last dim of a contiguous rows x cols matrix, and their backward, one
// block per row: the row maximum and the float64 sums are block reductions. Same formulas as
// kernels/cpu/softmax.c (which uses a vectorised expf; this one CUDA's expf).
#include <math.h>
#include <stdint.h>

#include "block_reduce.cuh"
#include "grid.cuh"

extern "C" __global__ void ts_softmax_f32(int64_t rows, int64_t cols, int log_softmax, const float *x, float *y) {
    TS_BLOCK_ROWS(r, rows) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m = -INFINITY;
        TS_BLOCK_COLS(j, cols) m = xr[j] > m ? xr[j] : m;
        m = ts_block_max(m);
        double sum = 0.0;
        TS_BLOCK_COLS(j, cols) {
            const float e = expf(xr[j] - m);
            if (!log_softmax) yr[j] = e;
            sum += (double)e;
        }
        sum = ts_block_sum(sum);
        if (log_softmax) {
            const float lse = (float)log(sum);
            TS_BLOCK_COLS(j, cols) yr[j] = (xr[j] - m) - lse;
        } else {
            const float inv = (float)(1.0 / sum);
            TS_BLOCK_COLS(j, cols) yr[j] *= inv;
        }
    }
}

// y is the forward output. softmax: gx = y (gy - sum(gy y)); log-softmax: gx = gy - exp(y) sum(gy).
extern "C" __global__ void ts_softmax_backward_f32(int64_t rows, int64_t cols, int log_softmax, const float *y, const float *gy, float *gx) {
    TS_BLOCK_ROWS(r, rows) {
        const float *yr = y + r * cols;
        const float *gyr = gy + r * cols;
        float *gxr = gx + r * cols;
        double acc = 0.0;
        TS_BLOCK_COLS(j, cols) acc += log_softmax ? (double)gyr[j] : (double)gyr[j] * yr[j];
        const float s = (float)ts_block_sum(acc);
        if (log_softmax) {
            TS_BLOCK_COLS(j, cols) gxr[j] = gyr[j] - expf(yr[j]) * s;
        } else {
            TS_BLOCK_COLS(j, cols) gxr[j] = yr[j] * (gyr[j] - s);
        }
    }
}
