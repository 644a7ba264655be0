// Force-included (g++ -include) before every kernels/cuda/*.cu in the emulated driver's host build: the
// CUDA language pieces the kernels use, mapped onto fibers (fibers.cpp). Add a piece here only when a
// kernel needs it; anything missing is a compile error in the emulator build, never a silent difference.
#ifndef TESSERA_CUDA_SHIM_H
#define TESSERA_CUDA_SHIM_H

#include <cstdint>
#include <cstring>
#include <type_traits>

struct uint3 {
    unsigned x, y, z;
};
// The vector types the kernels load and store in one access, with CUDA's sizes and alignments.
struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};
struct __attribute__((aligned(16))) int4 {
    int x, y, z, w;
};
struct __attribute__((aligned(4))) char4 {
    signed char x, y, z, w;
};
struct __attribute__((aligned(4))) uchar4 {
    unsigned char x, y, z, w;
};

// Selects the host spelling of dynamic shared memory in kernels/cuda/dynamic_shared.cuh.
#define TS_CUDA_EMU 1

namespace ts_emu {
// Set by the fiber scheduler: the running thread's index and the running block's geometry.
extern const uint3 *current_thread_idx;
extern uint3 block_idx, block_dim, grid_dim;
// The launch's sharedMemBytes, ending at a guard page.
extern unsigned char *dynamic_shared;

// Where a barrier or warp primitive is in the kernel's source, for the emulator's divergence reports.
#define TS_EMU_STR2(x) #x
#define TS_EMU_STR(x) TS_EMU_STR2(x)
#define TS_EMU_SITE __FILE__ ":" TS_EMU_STR(__LINE__)

void sync_threads(const char *site);

// The warp-level primitives: each lane of the mask posts its value and waits until every lane of the
// mask has reached the same primitive; then all get their results at once, as a warp does in lockstep.
enum class WarpOp : int { SHFL, SHFL_UP, SHFL_DOWN, SHFL_XOR, BALLOT, ALL, ANY };
uint64_t warp_exchange(WarpOp op, const char *site, unsigned mask, uint64_t value, int arg, int width);

template <typename T>
inline T shuffle(WarpOp op, const char *site, unsigned mask, T value, int arg, int width = 32) {
    static_assert(std::is_arithmetic_v<T> && sizeof(T) <= 8, "__shfl_*_sync takes a 32- or 64-bit number");
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof value);
    bits = warp_exchange(op, site, mask, bits, arg, width);
    std::memcpy(&value, &bits, sizeof value);
    return value;
}
}  // namespace ts_emu

// Read-only views, as in CUDA.
#define threadIdx (*ts_emu::current_thread_idx)
#define blockIdx (static_cast<const uint3 &>(ts_emu::block_idx))
#define blockDim (static_cast<const uint3 &>(ts_emu::block_dim))
#define gridDim (static_cast<const uint3 &>(ts_emu::grid_dim))
#define warpSize 32

#define __global__
#define __device__
// Blocks run one at a time, so one static instance is exactly one block's shared variable: its fibers
// share it and the next block reuses it. (`extern __shared__` is therefore a compile error here: kernels
// use TS_DYNAMIC_SHARED from dynamic_shared.cuh.)
#define __shared__ static
#define __syncthreads() ts_emu::sync_threads(TS_EMU_SITE)

#define __shfl_sync(...) ts_emu::shuffle(ts_emu::WarpOp::SHFL, TS_EMU_SITE, __VA_ARGS__)
#define __shfl_up_sync(...) ts_emu::shuffle(ts_emu::WarpOp::SHFL_UP, TS_EMU_SITE, __VA_ARGS__)
#define __shfl_down_sync(...) ts_emu::shuffle(ts_emu::WarpOp::SHFL_DOWN, TS_EMU_SITE, __VA_ARGS__)
#define __shfl_xor_sync(...) ts_emu::shuffle(ts_emu::WarpOp::SHFL_XOR, TS_EMU_SITE, __VA_ARGS__)
#define __ballot_sync(mask, predicate) \
    static_cast<unsigned>(ts_emu::warp_exchange(ts_emu::WarpOp::BALLOT, TS_EMU_SITE, mask, (predicate) != 0, 0, 32))
#define __all_sync(mask, predicate) \
    static_cast<int>(ts_emu::warp_exchange(ts_emu::WarpOp::ALL, TS_EMU_SITE, mask, (predicate) != 0, 0, 32))
#define __any_sync(mask, predicate) \
    static_cast<int>(ts_emu::warp_exchange(ts_emu::WarpOp::ANY, TS_EMU_SITE, mask, (predicate) != 0, 0, 32))

// The bit intrinsics: the lowest set bit (1-based, 0 for none) and the number of set bits.
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }

// Fibers switch only at barriers and warp primitives, so a plain read-modify-write is already atomic.
inline unsigned long long atomicAdd(unsigned long long *address, unsigned long long value) {
    const unsigned long long old = *address;
    *address = old + value;
    return old;
}

#endif
