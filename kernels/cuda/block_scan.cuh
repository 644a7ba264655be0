// Block-level exclusive prefix sum in shared memory (Hillis-Steele), a fixed sequence of steps that the
// emulated driver's fiber shim runs as a GPU does. blockDim.x must be no larger than TS_MAX_BLOCK; every
// thread of the block must call it (it synchronises). Returns the sum of the values of the threads below
// this one and sets *total to the block's sum.
#ifndef TESSERA_BLOCK_SCAN_CUH
#define TESSERA_BLOCK_SCAN_CUH

#include "block_reduce.cuh"

template <typename T>
__device__ static inline T ts_block_exclusive_scan(T v, T *total) {
    __shared__ T partial[TS_MAX_BLOCK];
    const unsigned t = threadIdx.x;
    partial[t] = v;
    __syncthreads();
    for (unsigned offset = 1; offset < blockDim.x; offset *= 2) {
        const T add = t >= offset ? partial[t - offset] : T(0);
        __syncthreads();
        partial[t] += add;
        __syncthreads();
    }
    const T inclusive = partial[t];
    *total = partial[blockDim.x - 1];
    __syncthreads();  // partial[] may be reused by the caller's next scan
    return inclusive - v;
}

#endif
