/* Level-1 vector kernels: axpy and a float64-accumulated sum. */
#include "ts_cpu.h"

int TS_FN(ts_axpy_f32)(int64_t n, float a, const float *restrict x, float *restrict y) {
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        y[i] = ts_axpy_elem(a, x[i], y[i]);
    }
    return TS_OK;
}

/* Accumulates in double: for n up to ~10^9 the rounding error stays far below one float ulp of
 * the result, so the float32 inputs are summed as exactly as a float64 reference would. */
int TS_FN(ts_sum_f32)(int64_t n, const float *restrict x, double *restrict out) {
    double acc = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : acc) if (n >= TS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        acc += (double)x[i];
    }
    *out = acc;
    return TS_OK;
}

/* y <- x, split over the OpenMP threads: one core alone does not saturate memory bandwidth. */
int TS_FN(ts_copy_f32)(int64_t n, const float *restrict x, float *restrict y) {
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        y[i] = x[i];
    }
    return TS_OK;
}
