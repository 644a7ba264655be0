/* Softmax and log-softmax over the last dim of a contiguous rows x cols matrix, and their backward.
 * Numerically stable: each row is shifted by its maximum before exp, and the sums are float64.
 * One row per task; OpenMP splits the rows (a single very long row stays on one thread).
 * Outputs must not overlap the inputs (Java allocates them). */
#include "ts_cpu.h"
#include "ts_vexp.h"

static inline float row_max(int64_t cols, const float *restrict x) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < cols; j++) {
        m = x[j] > m ? x[j] : m;
    }
    return m;
}

int TS_FN(ts_softmax_f32)(int64_t rows, int64_t cols, int log_softmax, const float *restrict x, float *restrict y) {
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= TS_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * cols;
        float *restrict yr = y + r * cols;
        const float m = row_max(cols, xr);
        double sum = 0.0;
        if (log_softmax) {
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < cols; j++) {
                sum += (double)ts_vexpf(xr[j] - m);
            }
            /* (x - m) - log(sum), as PyTorch rounds it: x - m is exact when x is near m */
            const float lse = (float)log(sum);
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                yr[j] = (xr[j] - m) - lse;
            }
        } else {
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < cols; j++) {
                const float e = ts_vexpf(xr[j] - m);
                yr[j] = e;
                sum += (double)e;
            }
            const float inv = (float)(1.0 / sum);
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                yr[j] *= inv;
            }
        }
    }
    return TS_OK;
}

/* y is the forward output. softmax: gx = y (gy - sum(gy y)); log-softmax: gx = gy - exp(y) sum(gy). */
int TS_FN(ts_softmax_backward_f32)(int64_t rows, int64_t cols, int log_softmax, const float *restrict y,
                                   const float *restrict gy, float *restrict gx) {
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= TS_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict yr = y + r * cols;
        const float *restrict gyr = gy + r * cols;
        float *restrict gxr = gx + r * cols;
        double acc = 0.0;
        if (log_softmax) {
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < cols; j++) {
                acc += (double)gyr[j];
            }
            const float s = (float)acc;
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                gxr[j] = gyr[j] - ts_vexpf(yr[j]) * s;
            }
        } else {
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < cols; j++) {
                acc += (double)gyr[j] * yr[j];
            }
            const float dot = (float)acc;
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                gxr[j] = yr[j] * (gyr[j] - dot);
            }
        }
    }
    return TS_OK;
}
