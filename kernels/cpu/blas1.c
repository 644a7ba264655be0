/* Level-1 vector kernels: axpy and a float64-accumulated sum. */
#include <omp.h>

#include "ts_cpu.h"

int TS_FN(ts_axpy_f32)(int64_t n, float a, const float *restrict x, float *restrict y) {
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        y[i] = ts_axpy_elem(a, x[i], y[i]);
    }
    return TS_OK;
}

/* Accumulates in double: for n up to ~10^9 the rounding error stays far below one float ulp of
 * the result, so the float32 inputs are summed as exactly as a float64 reference would. One vector
 * accumulator would make the loop wait on the add latency (~12 GB/s per core); TS_SUM_LANES independent
 * lanes (8 vector registers) and a prefetch TS_SUM_PREFETCH floats ahead keep more of memory's reads in
 * flight: 1 GiB from memory went from 20 to 24 GB/s on 2 cores, against 27 for a float32 sum (the widening
 * costs the rest). The prefetch goes to L2 (prefetcht1): 54-58 against 51-54 GB/s into L1 on 2 Zen 4 cores. This sum
 * over 1 GiB is the read bandwidth R the decode benchmarks are judged against, so it should read as fast as any. */
#if defined(__AVX512F__)
#define TS_SUM_LANES 64
#else
#define TS_SUM_LANES 32
#endif
#define TS_SUM_PREFETCH 256
static double sum_chunk(int64_t n, const float *restrict x) {
    double lanes[TS_SUM_LANES] = {0};
    int64_t i = 0;
    for (; i + TS_SUM_LANES <= n; i += TS_SUM_LANES) {
        __builtin_prefetch(x + i + TS_SUM_PREFETCH, 0, 2); /* never faults past the end */
#pragma omp simd
        for (int l = 0; l < TS_SUM_LANES; l++) {
            lanes[l] += (double)x[i + l];
        }
    }
    double acc = 0.0;
    for (; i < n; i++) {
        acc += (double)x[i];
    }
    for (int l = 0; l < TS_SUM_LANES; l++) {
        acc += lanes[l];
    }
    return acc;
}

int TS_FN(ts_sum_f32)(int64_t n, const float *restrict x, double *restrict out) {
    double acc = 0.0;
#pragma omp parallel reduction(+ : acc) if (n >= TS_PARALLEL_MIN)
    {
        const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
        /* contiguous, 64-byte-aligned-length slices, one per thread */
        const int64_t per = ((n + threads - 1) / threads + 15) & ~(int64_t)15;
        const int64_t lo = t * per < n ? t * per : n;
        const int64_t hi = lo + per < n ? lo + per : n;
        acc += sum_chunk(hi - lo, x + lo);
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
