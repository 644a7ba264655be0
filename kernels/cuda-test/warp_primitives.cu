// Test-only: built into the emulated CUDA driver, never into the fatbin. Each warp primitive applied to
// x over a 1-D grid (one element per thread), so io.tessera.ffi.CudaEmulatorTest can compare it with a
// plain reference of the CUDA programming guide's rules.
#include <stdint.h>

#include "block_scan.cuh"

#define TS_TEST_FULL_MASK 0xffffffffu

__device__ static inline int64_t ts_test_index() { return (int64_t)blockIdx.x * blockDim.x + threadIdx.x; }

extern "C" __global__ void ts_test_shfl_f32(const float *x, int src_lane, int width, float *y) {
    const int64_t i = ts_test_index();
    y[i] = __shfl_sync(TS_TEST_FULL_MASK, x[i], src_lane, width);
}

extern "C" __global__ void ts_test_shfl_up_f32(const float *x, int delta, int width, float *y) {
    const int64_t i = ts_test_index();
    y[i] = __shfl_up_sync(TS_TEST_FULL_MASK, x[i], (unsigned)delta, width);
}

extern "C" __global__ void ts_test_shfl_down_f32(const float *x, int delta, int width, float *y) {
    const int64_t i = ts_test_index();
    y[i] = __shfl_down_sync(TS_TEST_FULL_MASK, x[i], (unsigned)delta, width);
}

extern "C" __global__ void ts_test_shfl_xor_f32(const float *x, int lane_mask, int width, float *y) {
    const int64_t i = ts_test_index();
    y[i] = __shfl_xor_sync(TS_TEST_FULL_MASK, x[i], lane_mask, width);
}

// votes[3 i .. 3 i + 2] = the ballot, all and any of x > 0 over the lanes in mask, for threads in mask;
// the others do not vote and write nothing.
extern "C" __global__ void ts_test_votes_f32(const float *x, unsigned mask, unsigned *votes) {
    const int64_t i = ts_test_index();
    if ((mask >> (threadIdx.x % 32) & 1) == 0) return;
    const int positive = x[i] > 0.0f;
    votes[3 * i] = __ballot_sync(mask, positive);
    votes[3 * i + 1] = (unsigned)__all_sync(mask, positive);
    votes[3 * i + 2] = (unsigned)__any_sync(mask, positive);
}

// y[w] = the sum of warp w's 32 elements by a butterfly of shuffles; every lane's partial sum changes at
// each step, so the result is right only if the lanes exchange the values of the same step.
extern "C" __global__ void ts_test_warp_sum_f64(const double *x, double *y) {
    const int64_t i = ts_test_index();
    double v = x[i];
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(TS_TEST_FULL_MASK, v, offset);
    if (threadIdx.x % 32 == 0) y[i / 32] = v;
}

// order[b] = the position at which block b ran (counter counts blocks).
extern "C" __global__ void ts_test_block_order(unsigned long long *counter, unsigned long long *order) {
    if (threadIdx.x == 0) order[blockIdx.x] = atomicAdd(counter, 1ull);
}

// y[i] = the exclusive prefix sum of x over block b's threads (ts_block_exclusive_scan), totals[b] the block's sum.
extern "C" __global__ void ts_test_block_scan_i32(const int *x, int *y, int *totals) {
    const int64_t i = ts_test_index();
    int total;
    y[i] = ts_block_exclusive_scan(x[i], &total);
    if (threadIdx.x == 0) totals[blockIdx.x] = total;
}
