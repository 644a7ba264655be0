// Test-only: built into the emulated CUDA driver, never into the fatbin. Copies through a planted strided
// load, y[i] = x[i * stride] (with stride 8 or more floats every lane of a warp reads its own sector), and
// through float4 loads, which are coalesced; io.tessera.ffi.CudaAccessRecorderTest checks the recorder's
// report of both.
#include <stdint.h>

#include "grid.cuh"

extern "C" __global__ void ts_test_planted_strided_load_f32(int64_t n, int64_t stride, const float *x, float *y) {
    TS_GRID_STRIDE(i, n) y[i] = x[i * stride];
}

extern "C" __global__ void ts_test_copy_f32x4(int64_t n4, const float4 *x, float4 *y) {
    TS_GRID_STRIDE(i, n4) y[i] = x[i];
}
