// Block-level reductions in shared memory, a plain tree that the emulated driver's fiber shim can run
// as well as a GPU (no warp shuffles). blockDim.x must be a power of two no larger than TS_MAX_BLOCK.
// Every thread of the block must call them (they synchronise) and gets the block's result; the tree
// has a fixed shape, so results do not depend on scheduling.
#ifndef TESSERA_BLOCK_REDUCE_CUH
#define TESSERA_BLOCK_REDUCE_CUH

#define TS_MAX_BLOCK 1024

template <typename T, typename Combine>
__device__ static inline T ts_block_reduce(T v, Combine combine) {
    __shared__ T partial[TS_MAX_BLOCK];
    const unsigned t = threadIdx.x;
    partial[t] = v;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) partial[t] = combine(partial[t], partial[t + half]);
        __syncthreads();
    }
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
