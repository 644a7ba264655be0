// Test-only: built into the emulated CUDA driver, never into the fatbin. Barriers and warp primitives
// reached by only part of a block or warp, which a GPU hangs on or gets wrong; io.tessera.ffi.CudaEmulatorTest
// checks that the emulator reports them instead of letting them pass.
#include <stdint.h>

// The first half of the block waits at a barrier the other half never reaches.
extern "C" __global__ void ts_test_planted_divergent_syncthreads(float *y) {
    if (threadIdx.x < blockDim.x / 2) __syncthreads();
    y[(int64_t)blockIdx.x * blockDim.x + threadIdx.x] = 1.0f;
}

// Only the lanes below 16 reach a shuffle whose mask names the whole warp.
extern "C" __global__ void ts_test_planted_divergent_shfl(float *y) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    float v = (float)threadIdx.x;
    if (threadIdx.x % 32 < 16) v = __shfl_down_sync(0xffffffffu, v, 1);
    y[i] = v;
}
