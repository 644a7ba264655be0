// Level-1 vector kernels on the GPU; the same per-element math as kernels/cpu/blas1.c.
#include <stdint.h>

#include "block_reduce.cuh"
#include "tessera/ts_math.h"

extern "C" __global__ void ts_axpy_f32(int64_t n, float a, const float *__restrict__ x, float *__restrict__ y) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        y[i] = ts_axpy_elem(a, x[i], y[i]);
    }
}

// Pass 1 of a deterministic sum: block b writes the float64 sum of its grid-stride slice to
// partials[b]. Pass 2 (ts_sum_f64_final, one block) adds the partials in a fixed order, so the
// result does not depend on scheduling, unlike an atomicAdd.
extern "C" __global__ void ts_sum_f32_partial(int64_t n, const float *__restrict__ x, double *__restrict__ partials) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    double acc = 0.0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        acc += (double)x[i];
    }
    const double total = ts_block_sum(acc);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

extern "C" __global__ void ts_sum_f64_final(int64_t count, const double *__restrict__ partials, double *__restrict__ out) {
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
        acc += partials[i];
    }
    const double total = ts_block_sum(acc);
    if (threadIdx.x == 0) *out = total;
}
