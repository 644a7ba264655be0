// Attention kernels, the CUDA twins of kernels/cpu/attention.c and attention_causal.c. Query i of tq sits at
// position past + i (past = tk - tq keys of earlier positions in a cache), so key j is in its future when
// j > i + past.
#include <math.h>
#include <stdint.h>

#include "block_reduce.cuh"
#include "dynamic_shared.cuh"
#include "grid.cuh"
#include "tessera/ts_convert.h"

// Causal mask on a batch of tq x tk score blocks: the scores of future keys become value.
extern "C" __global__ void ts_causal_mask_f32(int64_t batch, int64_t tq, int64_t tk, int64_t past, float value, float *x) {
    TS_GRID_STRIDE(e, batch * tq * tk) {
        const int64_t i = e / tk % tq, j = e % tk;
        if (j > i + past) x[e] = value;
    }
}

// Row (b, h, t) of a [batch, heads, t, d] attention operand with element strides sb, sh, st and unit stride in d.
template <typename T>
__device__ static inline const T *ts_attention_row(const T *p, int64_t sb, int64_t sh, int64_t st, int64_t b, int64_t h,
                                                   int64_t t) {
    return p + b * sb + h * sh + t * st;
}

// Element c of a key or value row as float: f32, or f16 bits (a half-precision KV cache, widened as read).
__device__ static inline float ts_kv_element(const float *row, int64_t c) { return row[c]; }
__device__ static inline float ts_kv_element(const uint16_t *row, int64_t c) { return ts_f16_to_f32(row[c]); }

// The most queries one block of ts_causal_attention_f32 takes (CudaNn.ATTENTION_TILE): each warp keeps their
// scores and softmax state in registers.
#define TS_ATTENTION_TILE 8

// Causal self-attention in one pass with an online softmax: y[b, i, h, :] = sum_j softmax_j(scale q_i . k_j) v_j
// over the keys query i sees; y is contiguous [batch, tq, heads, d]. k and v have heads / group heads: query head h
// reads key and value head h / group (grouped-query attention).
//
// A block takes one (batch, head) and a tile of up to TS_ATTENTION_TILE queries; its warps split the keys (warp w
// takes keys w, w + warps, ...), so each K and V row is read once per tile (decode, tq = 1: once), each by one
// warp whose lanes run over d (whole 128-byte lines: coalesced). Per key the warp forms every query's q . k (a
// shuffle butterfly gives each lane the sum) and folds it into that query's running maximum m, sum of exponentials l
// and output acc = sum exp(s - m) v, rescaled when m grows; a key after a query's position leaves it unchanged.
// Then the warps' states of each query are merged in a fixed order, so results do not depend on scheduling. A NaN
// score poisons its row, as it does through softmax.
//
// Dynamic shared memory, floats: the tile's queries times scale [tile][d], each warp's acc [warps][tile][d], then m
// and l [warps][tile] each. Keys and values are KV: float, or uint16_t f16 bits (ts_causal_attention_f16kv).
template <typename KV>
__device__ static void ts_causal_attention(int64_t batch, int64_t heads, int64_t group, int64_t tq, int64_t tk, int64_t d,
                                           float scale,
                                           const float *q, int64_t qb, int64_t qh, int64_t qt,
                                           const KV *k, int64_t kb, int64_t kh, int64_t kt,
                                           const KV *v, int64_t vb, int64_t vh, int64_t vt, int64_t tile, float *y) {
    const unsigned warps = blockDim.x / TS_WARP, warp = threadIdx.x / TS_WARP, lane = threadIdx.x % TS_WARP;
    float *qs = TS_DYNAMIC_SHARED(float);
    float *acc = qs + tile * d;
    float *ms = acc + warps * tile * d;
    float *ls = ms + warps * tile;
    float *a = acc + warp * tile * d;  // this warp's [tile][d]
    const int64_t past = tk - tq, tiles = (tq + tile - 1) / tile;
    TS_BLOCK_ROWS(task, batch * heads * tiles) {
        const int64_t b = task / (heads * tiles), h = task / tiles % heads, i0 = task % tiles * tile;
        const int64_t rows = tq - i0 < tile ? tq - i0 : tile;  // queries in this tile
        for (int64_t e = threadIdx.x; e < rows * d; e += blockDim.x) {
            qs[e] = ts_attention_row(q, qb, qh, qt, b, h, i0 + e / d)[e % d] * scale;
        }
        for (int64_t e = lane; e < rows * d; e += TS_WARP) a[e] = 0.0f;
        float m[TS_ATTENTION_TILE], l[TS_ATTENTION_TILE];
        for (int r = 0; r < TS_ATTENTION_TILE; r++) {
            m[r] = -INFINITY;
            l[r] = 0.0f;
        }
        __syncthreads();
        for (int64_t j = warp; j <= i0 + rows - 1 + past; j += warps) {  // up to the last key the tile's last query sees
            const KV *kj = ts_attention_row(k, kb, kh, kt, b, h / group, j);
            float s[TS_ATTENTION_TILE] = {};
            for (int64_t c = lane; c < d; c += TS_WARP) {
                const float kc = ts_kv_element(kj, c);
                for (int r = 0; r < TS_ATTENTION_TILE; r++) {
                    if (r < rows) s[r] = fmaf(qs[r * d + c], kc, s[r]);
                }
            }
            float alpha[TS_ATTENTION_TILE], p[TS_ATTENTION_TILE];
            for (int r = 0; r < TS_ATTENTION_TILE; r++) {
                if (r >= rows) break;  // rows is the same for the whole block, so the shuffles keep their warp
                for (unsigned offset = TS_WARP / 2; offset > 0; offset /= 2) s[r] += __shfl_xor_sync(0xffffffffu, s[r], offset);
                const bool seen = j <= i0 + r + past;
                const float mj = seen ? fmaxf(m[r], s[r]) : m[r];  // fmaxf skips a NaN score, which then poisons l and acc
                alpha[r] = m[r] == mj ? 1.0f : expf(m[r] - mj);      // equal covers -inf = -inf (no key yet)
                p[r] = !seen || s[r] == -INFINITY ? 0.0f : expf(s[r] - mj);
                l[r] = fmaf(l[r], alpha[r], p[r]);
                m[r] = mj;
            }
            const KV *vj = ts_attention_row(v, vb, vh, vt, b, h / group, j);
            for (int64_t c = lane; c < d; c += TS_WARP) {
                const float vc = ts_kv_element(vj, c);
                for (int r = 0; r < TS_ATTENTION_TILE; r++) {
                    if (r < rows) a[r * d + c] = fmaf(a[r * d + c], alpha[r], p[r] * vc);
                }
            }
        }
        if (lane == 0) {
            for (int r = 0; r < rows; r++) {
                ms[warp * tile + r] = m[r];
                ls[warp * tile + r] = l[r];
            }
        }
        __syncthreads();
        for (int64_t e = threadIdx.x; e < rows * d; e += blockDim.x) {
            const int64_t r = e / d, c = e % d;
            float mm = -INFINITY;
            for (unsigned w = 0; w < warps; w++) mm = fmaxf(mm, ms[w * tile + r]);
            float sum = 0.0f, out = 0.0f;
            for (unsigned w = 0; w < warps; w++) {
                const float f = ms[w * tile + r] == mm ? 1.0f : expf(ms[w * tile + r] - mm);  // a warp that saw no key has l = acc = 0
                sum = fmaf(ls[w * tile + r], f, sum);
                out = fmaf(acc[(w * tile + r) * d + c], f, out);
            }
            y[((b * tq + i0 + r) * heads + h) * d + c] = out / sum;
        }
        __syncthreads();  // qs, acc, ms and ls are reused by the block's next task
    }
}

extern "C" __global__ void ts_causal_attention_f32(int64_t batch, int64_t heads, int64_t group, int64_t tq, int64_t tk, int64_t d,
                                                   float scale,
                                                   const float *q, int64_t qb, int64_t qh, int64_t qt,
                                                   const float *k, int64_t kb, int64_t kh, int64_t kt,
                                                   const float *v, int64_t vb, int64_t vh, int64_t vt, int64_t tile, float *y) {
    ts_causal_attention(batch, heads, group, tq, tk, d, scale, q, qb, qh, qt, k, kb, kh, kt, v, vb, vh, vt, tile, y);
}

extern "C" __global__ void ts_causal_attention_f16kv(int64_t batch, int64_t heads, int64_t group, int64_t tq, int64_t tk,
                                                     int64_t d, float scale,
                                                     const float *q, int64_t qb, int64_t qh, int64_t qt,
                                                     const uint16_t *k, int64_t kb, int64_t kh, int64_t kt,
                                                     const uint16_t *v, int64_t vb, int64_t vh, int64_t vt, int64_t tile,
                                                     float *y) {
    ts_causal_attention(batch, heads, group, tq, tk, d, scale, q, qb, qh, qt, k, kb, kh, kt, v, vb, vh, vt, tile, y);
}
