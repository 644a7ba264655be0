// Block-level sum in shared memory, a plain tree that the emulated driver's fiber shim can run
// as well as a GPU. blockDim.x must be a power of two no larger than TS_MAX_BLOCK.
#ifndef TESSERA_BLOCK_REDUCE_CUH
#define TESSERA_BLOCK_REDUCE_CUH

#define TS_MAX_BLOCK 1024

__device__ static inline double ts_block_sum(double v) {
    __shared__ double partial[TS_MAX_BLOCK];
    const unsigned t = threadIdx.x;
    partial[t] = v;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) partial[t] += partial[t + half];
        __syncthreads();
    }
    const double total = partial[0];
    __syncthreads();  // partial[] may be reused by the caller's next reduction
    return total;
}

#endif
