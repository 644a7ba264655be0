// Layer norm and RMS norm over the last dim of a contiguous rows x cols matrix, and their backward, as
// kernels/cpu/norm.c computes them: float64 row statistics (block reductions, one block per row); w and
// b may be NULL. Backward writes gw and gb (either may be NULL) with a second kernel, one thread per
// column summing its rows in order, so the result is the same on every run.
#include <math.h>
#include <stdint.h>

#include "block_reduce.cuh"
#include "grid.cuh"

extern "C" __global__ void ts_layernorm_f32(int64_t rows, int64_t cols, float eps, const float *x, const float *w, const float *b, float *y, float *mean, float *rstd) {
    TS_BLOCK_ROWS(r, rows) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        double s = 0.0;
        TS_BLOCK_COLS(j, cols) s += (double)xr[j];
        const double mu_d = ts_block_sum(s) / (double)cols;
        double ss = 0.0;
        TS_BLOCK_COLS(j, cols) {
            const double d = (double)xr[j] - mu_d;
            ss += d * d;
        }
        const double rs_d = 1.0 / sqrt(ts_block_sum(ss) / (double)cols + (double)eps);
        if (threadIdx.x == 0) {
            if (mean) mean[r] = (float)mu_d;
            if (rstd) rstd[r] = (float)rs_d;
        }
        const float mu = (float)mu_d, rs = (float)rs_d;
        TS_BLOCK_COLS(j, cols) {
            const float v = (xr[j] - mu) * rs;
            yr[j] = (w ? v * w[j] : v) + (b ? b[j] : 0.0f);
        }
    }
}

// With xhat = (x - mean) rstd and g = gy w: gx = rstd (g - mean(g) - xhat mean(g xhat)).
extern "C" __global__ void ts_layernorm_backward_f32(int64_t rows, int64_t cols, const float *x, const float *w, const float *mean, const float *rstd, const float *gy, float *gx) {
    TS_BLOCK_ROWS(r, rows) {
        const float *xr = x + r * cols;
        const float *gyr = gy + r * cols;
        float *gxr = gx + r * cols;
        const float mu = mean[r], rs = rstd[r];
        double sg = 0.0, sgx = 0.0;
        TS_BLOCK_COLS(j, cols) {
            const float g = w ? gyr[j] * w[j] : gyr[j];
            sg += (double)g;
            sgx += (double)g * ((xr[j] - mu) * rs);
        }
        const float mg = (float)(ts_block_sum(sg) / (double)cols), mgx = (float)(ts_block_sum(sgx) / (double)cols);
        TS_BLOCK_COLS(j, cols) {
            const float g = w ? gyr[j] * w[j] : gyr[j];
            gxr[j] = rs * (g - mg - (xr[j] - mu) * rs * mgx);
        }
    }
}

// gw[j] = sum over rows of gy xhat, gb[j] = sum over rows of gy (mean is NULL for RMS norm: xhat = x rstd).
extern "C" __global__ void ts_norm_param_grads_f32(int64_t rows, int64_t cols, const float *x, const float *mean, const float *rstd, const float *gy, float *gw, float *gb) {
    TS_GRID_STRIDE(j, cols) {
        double sw = 0.0, sb = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            const float g = gy[r * cols + j];
            sw += (double)g * ((x[r * cols + j] - (mean ? mean[r] : 0.0f)) * rstd[r]);
            sb += (double)g;
        }
        if (gw) gw[j] = (float)sw;
        if (gb) gb[j] = (float)sb;
    }
}

extern "C" __global__ void ts_rmsnorm_f32(int64_t rows, int64_t cols, float eps, const float *x, const float *w, float *y, float *rstd) {
    TS_BLOCK_ROWS(r, rows) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        double ss = 0.0;
        TS_BLOCK_COLS(j, cols) ss += (double)xr[j] * xr[j];
        const double rs_d = 1.0 / sqrt(ts_block_sum(ss) / (double)cols + (double)eps);
        if (rstd && threadIdx.x == 0) rstd[r] = (float)rs_d;
        const float rs = (float)rs_d;
        TS_BLOCK_COLS(j, cols) yr[j] = w ? xr[j] * rs * w[j] : xr[j] * rs;
    }
}

// With xhat = x rstd and g = gy w: gx = rstd (g - xhat mean(g xhat)).
extern "C" __global__ void ts_rmsnorm_backward_f32(int64_t rows, int64_t cols, const float *x, const float *w, const float *rstd, const float *gy, float *gx) {
    TS_BLOCK_ROWS(r, rows) {
        const float *xr = x + r * cols;
        const float *gyr = gy + r * cols;
        float *gxr = gx + r * cols;
        const float rs = rstd[r];
        double sgx = 0.0;
        TS_BLOCK_COLS(j, cols) sgx += (double)(w ? gyr[j] * w[j] : gyr[j]) * (xr[j] * rs);
        const float mgx = (float)(ts_block_sum(sgx) / (double)cols);
        TS_BLOCK_COLS(j, cols) gxr[j] = rs * ((w ? gyr[j] * w[j] : gyr[j]) - xr[j] * rs * mgx);
    }
}
