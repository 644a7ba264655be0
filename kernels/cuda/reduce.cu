// Reductions: y[o] = op over the reduced index space of x, for every outer index o, in two passes that
// give the same bits on every run. Pass 1: block (o, s) folds split s of output o's reduced elements
// (threads stride over them, then a block tree) into partial[o * splits + s], or straight into y when
// splits == 1. Pass 2 (ts_reduce_final_f32): one block per output merges its splits in a fixed tree.
// The accumulator (float64 sums; NaN-first max/min/argmax) is tessera/ts_reduce_math.h, shared with
// kernels/cpu/reduce.c. The outer view has operand 0 only, as has the reduced view.
#include <stdint.h>

#include "block_reduce.cuh"
#include "grid.cuh"
#include "strided.cuh"
#include "tessera/ts_reduce_math.h"

__device__ static inline void ts_reduce_store(int op, ts_racc acc, void *y, int64_t o) {
    if (op == TS_RARGMAX) {
        ((int64_t *)y)[o] = acc.arg;
    } else {
        ((float *)y)[o] = ts_racc_value(op, acc);
    }
}

__device__ static inline ts_racc ts_block_racc(int op, ts_racc acc) {
    return ts_block_reduce(acc, [op](ts_racc a, ts_racc b) { return ts_racc_merge(op, a, b); });
}

extern "C" __global__ void ts_reduce_f32(int op, ts_strided outer, ts_strided red, int64_t splits, const float *x, ts_racc *partial, void *y) {
    const int64_t per_split = (red.numel + splits - 1) / splits;
    TS_BLOCK_ROWS(b, outer.numel * splits) {
        const int64_t o = b / splits, s = b % splits;
        int64_t base;
        ts_strided_offsets(outer, o, 1, &base);
        const int64_t end = (s + 1) * per_split < red.numel ? (s + 1) * per_split : red.numel;
        ts_racc acc = ts_racc_init(op);
        for (int64_t r = s * per_split + threadIdx.x; r < end; r += blockDim.x) {
            int64_t off;
            ts_strided_offsets(red, r, 1, &off);
            ts_racc_add(op, &acc, x[base + off], r);
        }
        acc = ts_block_racc(op, acc);
        if (threadIdx.x == 0) {
            if (splits == 1) {
                ts_reduce_store(op, acc, y, o);
            } else {
                partial[b] = acc;
            }
        }
    }
}

extern "C" __global__ void ts_reduce_final_f32(int op, int64_t outputs, int64_t splits, const ts_racc *partial, void *y) {
    TS_BLOCK_ROWS(o, outputs) {
        ts_racc acc = ts_racc_init(op);
        TS_BLOCK_COLS(s, splits) acc = ts_racc_merge(op, acc, partial[o * splits + s]);
        acc = ts_block_racc(op, acc);
        if (threadIdx.x == 0) ts_reduce_store(op, acc, y, o);
    }
}

// For outputs adjacent in x (the outer view's innermost stride 1, as in a sum over dim 0), lanes run over
// outputs instead: lane j of warp g folds, in order, the reduced elements g, g + warps, ... of output
// o0 + j, so a warp loads 32 neighbouring floats where a block per output would have each lane read its
// own sector; the warps' partials are then merged in warp order through shared memory.
extern "C" __global__ void ts_reduce_adjacent_f32(int op, ts_strided outer, ts_strided red, const float *x, void *y) {
    __shared__ ts_racc partial[TS_MAX_BLOCK];
    const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    for (int64_t o0 = (int64_t)blockIdx.x * 32; o0 < outer.numel; o0 += (int64_t)gridDim.x * 32) {
        const int64_t o = o0 + lane;
        ts_racc acc = ts_racc_init(op);
        if (o < outer.numel) {
            int64_t base;
            ts_strided_offsets(outer, o, 1, &base);
            for (int64_t r = warp; r < red.numel; r += warps) {
                int64_t off;
                ts_strided_offsets(red, r, 1, &off);
                ts_racc_add(op, &acc, x[base + off], r);
            }
        }
        partial[threadIdx.x] = acc;
        __syncthreads();
        if (warp == 0 && o < outer.numel) {
            for (unsigned w = 1; w < warps; w++) acc = ts_racc_merge(op, acc, partial[w * 32 + lane]);
            ts_reduce_store(op, acc, y, o);
        }
        __syncthreads();
    }
}
