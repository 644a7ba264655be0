// Attention kernels, the CUDA twins of kernels/cpu/attention.c and attention_causal.c. Query i of tq sits at
// position past + i (past = tk - tq keys of earlier positions in a cache), so key j is in its future when
// j > i + past.
#include <math.h>
#include <stdint.h>

#include "block_reduce.cuh"
#include "dynamic_shared.cuh"
#include "grid.cuh"

// Causal mask on a batch of tq x tk score blocks: the scores of future keys become value.
extern "C" __global__ void ts_causal_mask_f32(int64_t batch, int64_t tq, int64_t tk, int64_t past, float value, float *x) {
    TS_GRID_STRIDE(e, batch * tq * tk) {
        const int64_t i = e / tk % tq, j = e % tk;
        if (j > i + past) x[e] = value;
    }
}

// Row (b, h, t) of a [batch, heads, t, d] attention operand with element strides sb, sh, st and unit stride in d.
__device__ static inline const float *ts_attention_row(const float *p, int64_t sb, int64_t sh, int64_t st, int64_t b, int64_t h,
                                                       int64_t t) {
    return p + b * sb + h * sh + t * st;
}

// Causal self-attention in one pass with an online softmax: y[b, i, h, :] = sum_j softmax_j(scale q_i . k_j) v_j
// over the keys query i sees; y is contiguous [batch, tq, heads, d].
//
// A block takes one (batch, head) and a tile of `tile` queries; its warps are split `splits` ways per query, so a
// warp owns query w / splits and every splits-th key from w % splits (decode, tq = 1: all warps on one query, each
// key row read by exactly one warp). Lanes run over d, so each K and V row is read as whole 128-byte lines (each
// warp load coalesced). Per key the warp forms q . k with a shuffle butterfly (every lane gets the sum) and folds
// it into its running maximum m, sum of exponentials l and output acc = sum exp(s - m) v (rescaled when m grows);
// then the splits of a query are merged in a fixed order, so results do not depend on scheduling. A NaN score
// poisons its row, as it does through softmax.
//
// Dynamic shared memory, floats: the tile's queries times scale [tile][d], each warp's acc [warps][d], m and l
// [warps] each. blockDim.x = tile * splits * 32.
extern "C" __global__ void ts_causal_attention_f32(int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d, float scale,
                                                   const float *q, int64_t qb, int64_t qh, int64_t qt,
                                                   const float *k, int64_t kb, int64_t kh, int64_t kt,
                                                   const float *v, int64_t vb, int64_t vh, int64_t vt, int64_t tile, int64_t splits, float *y) {
    const unsigned warps = blockDim.x / TS_WARP, warp = threadIdx.x / TS_WARP, lane = threadIdx.x % TS_WARP;
    float *qs = TS_DYNAMIC_SHARED(float);
    float *acc = qs + tile * d;
    float *ms = acc + warps * d;
    float *ls = ms + warps;
    const int64_t past = tk - tq, tiles = (tq + tile - 1) / tile;
    TS_BLOCK_ROWS(task, batch * heads * tiles) {
        const int64_t b = task / (heads * tiles), h = task / tiles % heads, i0 = task % tiles * tile;
        const int64_t rows = tq - i0 < tile ? tq - i0 : tile;  // queries in this tile
        for (int64_t e = threadIdx.x; e < rows * d; e += blockDim.x) {
            qs[e] = ts_attention_row(q, qb, qh, qt, b, h, i0 + e / d)[e % d] * scale;
        }
        __syncthreads();
        const int64_t r = warp / splits;  // this warp's query in the tile
        float m = -INFINITY, l = 0.0f;
        float *a = acc + warp * d;
        for (int64_t c = lane; c < d; c += TS_WARP) a[c] = 0.0f;
        if (r < rows) {
            const float *qr = qs + r * d;
            for (int64_t j = warp % splits; j <= i0 + r + past; j += splits) {
                const float *kj = ts_attention_row(k, kb, kh, kt, b, h, j);
                float s = 0.0f;
                for (int64_t c = lane; c < d; c += TS_WARP) s = fmaf(qr[c], kj[c], s);
                for (unsigned offset = TS_WARP / 2; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
                const float mj = fmaxf(m, s);  // fmaxf skips a NaN s, which then poisons l and acc through p
                const float alpha = m == mj ? 1.0f : expf(m - mj);  // equal covers -inf = -inf (no key yet)
                const float p = s == -INFINITY ? 0.0f : expf(s - mj);
                const float *vj = ts_attention_row(v, vb, vh, vt, b, h, j);
                for (int64_t c = lane; c < d; c += TS_WARP) a[c] = fmaf(a[c], alpha, p * vj[c]);
                l = fmaf(l, alpha, p);
                m = mj;
            }
        }
        if (lane == 0) {
            ms[warp] = m;
            ls[warp] = l;
        }
        __syncthreads();
        for (int64_t e = threadIdx.x; e < rows * d; e += blockDim.x) {
            const int64_t rr = e / d, c = e % d;
            float mm = -INFINITY;
            for (int64_t s = 0; s < splits; s++) mm = fmaxf(mm, ms[rr * splits + s]);
            float sum = 0.0f, out = 0.0f;
            for (int64_t s = 0; s < splits; s++) {
                const int64_t w = rr * splits + s;
                const float f = ms[w] == mm ? 1.0f : expf(ms[w] - mm);  // a split that saw no key has l = acc = 0
                sum = fmaf(ls[w], f, sum);
                out = fmaf(acc[w * d + c], f, out);
            }
            y[((b * tq + i0 + rr) * heads + h) * d + c] = out / sum;
        }
        __syncthreads();  // qs, acc, ms and ls are reused by the block's next task
    }
}
