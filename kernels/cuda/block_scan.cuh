// Block-level exclusive prefix sum: each warp scans its lanes with shuffles (Kogge-Stone over
// __shfl_up_sync), the first warp scans the warps' sums from shared memory, and each thread adds the sum
// of the warps below its own: three barriers whatever the block size, where a scan in shared memory
// takes two per step. The steps are fixed, so the result does not depend on scheduling; the emulated
// driver runs the shuffles in lockstep. blockDim.x must be no larger than TS_MAX_BLOCK (any multiple of
// a warp or not); every thread of the block must call it (it synchronises). Returns the sum of the values
// of the threads below this one and sets *total to the block's sum.
#ifndef TESSERA_BLOCK_SCAN_CUH
#define TESSERA_BLOCK_SCAN_CUH

#include "block_reduce.cuh"

// The inclusive scan of the first `lanes` lanes' values (at most 32); only they may call it.
template <typename T>
__device__ static inline T ts_warp_inclusive_scan(T v, unsigned lanes) {
    const unsigned mask = lanes == TS_WARP ? 0xffffffffu : (1u << lanes) - 1;
    const unsigned lane = threadIdx.x % TS_WARP;
    for (unsigned offset = 1; offset < lanes; offset *= 2) {
        const T below = __shfl_up_sync(mask, v, offset);
        if (lane >= offset) v += below;
    }
    return v;
}

template <typename T>
__device__ static inline T ts_block_exclusive_scan(T v, T *total) {
    __shared__ T warp_sums[TS_MAX_BLOCK / TS_WARP];
    const unsigned t = threadIdx.x, lane = t % TS_WARP, warp = t / TS_WARP;
    const unsigned warps = (blockDim.x + TS_WARP - 1) / TS_WARP;
    const unsigned lanes = blockDim.x - warp * TS_WARP < TS_WARP ? blockDim.x - warp * TS_WARP : TS_WARP;
    const T inclusive = ts_warp_inclusive_scan(v, lanes);
    if (lane == lanes - 1) warp_sums[warp] = inclusive;
    __syncthreads();
    if (t < warps) warp_sums[t] = ts_warp_inclusive_scan(warp_sums[t], warps);
    __syncthreads();
    const T below = warp == 0 ? T(0) : warp_sums[warp - 1];
    *total = warp_sums[warps - 1];
    __syncthreads();  // warp_sums[] may be reused by the caller's next scan
    return below + inclusive - v;
}

#endif
