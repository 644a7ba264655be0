// Test-only: built into the emulated CUDA driver, never into the fatbin. A fill with a planted
// off-by-one bound (<= n), so every launch writes y[n], one element past the buffer;
// io.tessera.ffi.CudaEmulatorTest checks that the emulator reports it instead of tolerating it.
#include <stdint.h>

extern "C" __global__ void ts_test_fill_planted_oob_f32(int64_t n, float value, float *y) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i <= n; i += stride) {
        y[i] = value;
    }
}
