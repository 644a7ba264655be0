// Block-level reductions: each warp folds its lanes with shuffles, then the first warp folds the warps'
// results from shared memory, so a block of B threads synchronises three times instead of log2(B) + 2.
// blockDim.x must be a power of two no larger than TS_MAX_BLOCK. Every thread of the block must call them
// (they synchronise) and gets the block's result; the folds have a fixed shape (lane i combines its value
// with lane i + offset's, the lower lane's on the left), so results do not depend on scheduling. The
// emulated driver runs the shuffles in lockstep and reports a lane that misses one.
#ifndef TESSERA_BLOCK_REDUCE_CUH
#define TESSERA_BLOCK_REDUCE_CUH

#include <string.h>

#define TS_MAX_BLOCK 1024
#define TS_WARP 32

// __shfl_down_sync of any value of 4-byte words (a struct too), word by word.
template <typename T>
__device__ static inline T ts_shfl_down(unsigned mask, T v, unsigned offset, int width) {
    static_assert(sizeof(T) % 4 == 0, "ts_shfl_down moves 4-byte words");
    unsigned words[sizeof(T) / 4];
    memcpy(words, &v, sizeof(T));
    for (unsigned w = 0; w < sizeof(T) / 4; w++) words[w] = __shfl_down_sync(mask, words[w], offset, width);
    memcpy(&v, words, sizeof(T));
    return v;
}

// The fold of the first `lanes` lanes' values (a power of two, at most 32), in lane 0; only they may call it.
template <typename T, typename Combine>
__device__ static inline T ts_warp_reduce(T v, Combine combine, unsigned lanes) {
    const unsigned mask = lanes == TS_WARP ? 0xffffffffu : (1u << lanes) - 1;
    for (unsigned offset = lanes / 2; offset > 0; offset /= 2) v = combine(v, ts_shfl_down(mask, v, offset, (int)lanes));
    return v;
}

template <typename T, typename Combine>
__device__ static inline T ts_block_reduce(T v, Combine combine) {
    __shared__ T partial[TS_MAX_BLOCK / TS_WARP];
    const unsigned t = threadIdx.x;
    const unsigned lanes = blockDim.x < TS_WARP ? blockDim.x : TS_WARP;
    v = ts_warp_reduce(v, combine, lanes);
    if (t % TS_WARP == 0) partial[t / TS_WARP] = v;
    __syncthreads();
    const unsigned warps = blockDim.x / lanes;
    if (t < warps) {
        v = ts_warp_reduce(partial[t], combine, warps);
        if (t == 0) partial[0] = v;
    }
    __syncthreads();
    const T total = partial[0];
    __syncthreads();  // partial[] may be reused by the caller's next reduction
    return total;
}

__device__ static inline double ts_block_sum(double v) {
    return ts_block_reduce(v, [](double a, double b) { return a + b; });
}

__device__ static inline float ts_block_max(float v) {
    return ts_block_reduce(v, [](float a, float b) { return b > a ? b : a; });
}

__device__ static inline int ts_block_all(int v) {
    return ts_block_reduce(v, [](int a, int b) { return a & b; });
}

#endif
