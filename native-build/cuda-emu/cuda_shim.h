// Force-included (g++ -include) before every kernels/cuda/*.cu in the emulated driver's host build: the
// CUDA language pieces the kernels use, mapped onto fibers (fibers.cpp). Add a piece here only when a
// kernel needs it; anything missing is a compile error in the emulator build, never a silent difference.
#ifndef TESSERA_CUDA_SHIM_H
#define TESSERA_CUDA_SHIM_H

struct uint3 {
    unsigned x, y, z;
};

// Selects the host spelling of dynamic shared memory in kernels/cuda/dynamic_shared.cuh.
#define TS_CUDA_EMU 1

namespace ts_emu {
// Set by the fiber scheduler: the running thread's index and the running block's geometry.
extern const uint3 *current_thread_idx;
extern uint3 block_idx, block_dim, grid_dim;
// The launch's sharedMemBytes, ending at a guard page.
extern unsigned char *dynamic_shared;
void sync_threads();
}  // namespace ts_emu

// Read-only views, as in CUDA.
#define threadIdx (*ts_emu::current_thread_idx)
#define blockIdx (static_cast<const uint3 &>(ts_emu::block_idx))
#define blockDim (static_cast<const uint3 &>(ts_emu::block_dim))
#define gridDim (static_cast<const uint3 &>(ts_emu::grid_dim))

#define __global__
#define __device__
// Blocks run one at a time, so one static instance is exactly one block's shared variable: its fibers
// share it and the next block reuses it. (`extern __shared__` is therefore a compile error here: kernels
// use TS_DYNAMIC_SHARED from dynamic_shared.cuh.)
#define __shared__ static
#define __syncthreads() ts_emu::sync_threads()

// Fibers switch only at __syncthreads, so a plain read-modify-write is already atomic.
inline unsigned long long atomicAdd(unsigned long long *address, unsigned long long value) {
    const unsigned long long old = *address;
    *address = old + value;
    return old;
}

#endif
