// Test-only: built into the emulated CUDA driver, never into the fatbin. Reverses each block's slice of
// x through dynamic shared memory, so a block's threads read what the others wrote before the barrier.
#include <stdint.h>

#include "dynamic_shared.cuh"

extern "C" __global__ void ts_test_reverse_block_f32(const float *x, float *y) {
    float *slice = TS_DYNAMIC_SHARED(float);
    const int64_t base = (int64_t)blockIdx.x * blockDim.x;
    slice[threadIdx.x] = x[base + threadIdx.x];
    __syncthreads();
    y[base + threadIdx.x] = slice[blockDim.x - 1 - threadIdx.x];
}
