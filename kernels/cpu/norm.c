/* Layer norm and RMS norm over the last dim of a contiguous rows x cols matrix, and their backward.
 * Row statistics are float64 (two-pass variance, biased as in PyTorch); forward writes the per-row
 * mean and rstd = 1/sqrt(var + eps) that backward reads (either may be NULL when no backward follows).
 * w and b may be NULL, meaning all ones and all zeros. Backward WRITES gw and gb (either may be NULL):
 * each thread adds its rows into its own float64 buffer (no atomics, no races), and the buffers are
 * then summed in thread order, so the result is the same from run to run for a given thread count.
 * Outputs must not overlap the inputs. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "ts_cpu.h"

/* The only failure: the per-thread gradient buffers could not be allocated. */

static inline int parallel_rows(int64_t rows, int64_t cols) { return rows > 1 && rows * cols >= TS_PARALLEL_MIN; }

/* Zeroed float64 partials, nbuf buffers of cols doubles per thread, when wanted (else NULL);
 * returns 0 when the allocation failed. */
static int alloc_partials(int want, int threads, int nbuf, int64_t cols, double **part) {
    *part = NULL;
    if (!want) return 1;
    *part = calloc((size_t)threads * (size_t)nbuf * (size_t)(cols > 0 ? cols : 1), sizeof(double));
    return *part != NULL;
}

/* Row r of ts_layernorm_f32. */
static inline void layernorm_row(int64_t r, int64_t cols, float eps, const float *restrict x, const float *restrict w,
                                 const float *restrict b, float *restrict y, float *restrict mean, float *restrict rstd) {
    const float *restrict xr = x + r * cols;
    float *restrict yr = y + r * cols;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < cols; j++) {
        s += (double)xr[j];
    }
    const double mu_d = s / (double)cols;
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < cols; j++) {
        const double d = (double)xr[j] - mu_d;
        ss += d * d;
    }
    const double rs_d = 1.0 / sqrt(ss / (double)cols + (double)eps);
    if (mean) mean[r] = (float)mu_d;
    if (rstd) rstd[r] = (float)rs_d;
    const float mu = (float)mu_d, rs = (float)rs_d;
    if (w && b) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
    } else if (w) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * rs * w[j];
    } else if (b) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * rs + b[j];
    } else {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * rs;
    }
}

int TS_FN(ts_layernorm_f32)(int64_t rows, int64_t cols, float eps, const float *restrict x, const float *restrict w,
                            const float *restrict b, float *restrict y, float *restrict mean, float *restrict rstd) {
    TS_PARALLEL_FOR_IF(parallel_rows(rows, cols), omp parallel for schedule(static), r, rows,
                       { layernorm_row(r, cols, eps, x, w, b, y, mean, rstd); });
    return TS_OK;
}

/* With xhat = (x - mean) rstd and g = gy w: gx = rstd (g - mean(g) - xhat mean(g xhat)),
 * gw = sum over rows of gy xhat, gb = sum over rows of gy. */
int TS_FN(ts_layernorm_backward_f32)(int64_t rows, int64_t cols, const float *restrict x, const float *restrict w,
                                     const float *restrict mean, const float *restrict rstd, const float *restrict gy,
                                     float *restrict gx, float *restrict gw, float *restrict gb) {
    const int threads = parallel_rows(rows, cols) ? omp_get_max_threads() : 1;
    double *part;
    if (!alloc_partials(gw || gb, threads, 2, cols, &part)) return TS_ERR_NOMEM;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        double *restrict pw = part ? part + (size_t)omp_get_thread_num() * 2 * (size_t)cols : NULL;
        double *restrict pb = part ? pw + cols : NULL;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *restrict xr = x + r * cols;
            const float *restrict gyr = gy + r * cols;
            float *restrict gxr = gx + r * cols;
            const float mu = mean[r], rs = rstd[r];
            double sg = 0.0, sgx = 0.0;
            if (w) {
#pragma omp simd reduction(+ : sg, sgx)
                for (int64_t j = 0; j < cols; j++) {
                    const float g = gyr[j] * w[j];
                    sg += (double)g;
                    sgx += (double)g * ((xr[j] - mu) * rs);
                }
            } else {
#pragma omp simd reduction(+ : sg, sgx)
                for (int64_t j = 0; j < cols; j++) {
                    sg += (double)gyr[j];
                    sgx += (double)gyr[j] * ((xr[j] - mu) * rs);
                }
            }
            const float mg = (float)(sg / (double)cols), mgx = (float)(sgx / (double)cols);
            if (w) {
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) {
                    gxr[j] = rs * (gyr[j] * w[j] - mg - (xr[j] - mu) * rs * mgx);
                }
            } else {
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) {
                    gxr[j] = rs * (gyr[j] - mg - (xr[j] - mu) * rs * mgx);
                }
            }
            if (part) {
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) {
                    pw[j] += (double)gyr[j] * ((xr[j] - mu) * rs);
                    pb[j] += (double)gyr[j];
                }
            }
        }
        if (part) {
#pragma omp for schedule(static)
            for (int64_t j = 0; j < cols; j++) {
                double sw = 0.0, sb = 0.0;
                for (int t = 0; t < threads; t++) {
                    sw += part[(size_t)t * 2 * (size_t)cols + (size_t)j];
                    sb += part[((size_t)t * 2 + 1) * (size_t)cols + (size_t)j];
                }
                if (gw) gw[j] = (float)sw;
                if (gb) gb[j] = (float)sb;
            }
        }
    }
    free(part);
    return TS_OK;
}

/* Row r of ts_rmsnorm_f32. */
static inline void rmsnorm_row(int64_t r, int64_t cols, float eps, const float *restrict x, const float *restrict w,
                               float *restrict y, float *restrict rstd) {
    const float *restrict xr = x + r * cols;
    float *restrict yr = y + r * cols;
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < cols; j++) {
        ss += (double)xr[j] * xr[j];
    }
    const double rs_d = 1.0 / sqrt(ss / (double)cols + (double)eps);
    if (rstd) rstd[r] = (float)rs_d;
    const float rs = (float)rs_d;
    if (w) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] * rs * w[j];
    } else {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] * rs;
    }
}

int TS_FN(ts_rmsnorm_f32)(int64_t rows, int64_t cols, float eps, const float *restrict x, const float *restrict w,
                          float *restrict y, float *restrict rstd) {
    TS_PARALLEL_FOR_IF(parallel_rows(rows, cols), omp parallel for schedule(static), r, rows,
                       { rmsnorm_row(r, cols, eps, x, w, y, rstd); });
    return TS_OK;
}

/* With xhat = x rstd and g = gy w: gx = rstd (g - xhat mean(g xhat)), gw = sum over rows of gy xhat. */
int TS_FN(ts_rmsnorm_backward_f32)(int64_t rows, int64_t cols, const float *restrict x, const float *restrict w,
                                   const float *restrict rstd, const float *restrict gy, float *restrict gx,
                                   float *restrict gw) {
    const int threads = parallel_rows(rows, cols) ? omp_get_max_threads() : 1;
    double *part;
    if (!alloc_partials(gw != NULL, threads, 1, cols, &part)) return TS_ERR_NOMEM;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        double *restrict pw = part ? part + (size_t)omp_get_thread_num() * (size_t)cols : NULL;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *restrict xr = x + r * cols;
            const float *restrict gyr = gy + r * cols;
            float *restrict gxr = gx + r * cols;
            const float rs = rstd[r];
            double sgx = 0.0;
            if (w) {
#pragma omp simd reduction(+ : sgx)
                for (int64_t j = 0; j < cols; j++) sgx += (double)(gyr[j] * w[j]) * (xr[j] * rs);
            } else {
#pragma omp simd reduction(+ : sgx)
                for (int64_t j = 0; j < cols; j++) sgx += (double)gyr[j] * (xr[j] * rs);
            }
            const float mgx = (float)(sgx / (double)cols);
            if (w) {
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) gxr[j] = rs * (gyr[j] * w[j] - xr[j] * rs * mgx);
            } else {
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) gxr[j] = rs * (gyr[j] - xr[j] * rs * mgx);
            }
            if (pw) {
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) pw[j] += (double)gyr[j] * (xr[j] * rs);
            }
        }
        if (part) {
#pragma omp for schedule(static)
            for (int64_t j = 0; j < cols; j++) {
                double sw = 0.0;
                for (int t = 0; t < threads; t++) sw += part[(size_t)t * (size_t)cols + (size_t)j];
                gw[j] = (float)sw;
            }
        }
    }
    free(part);
    return TS_OK;
}
