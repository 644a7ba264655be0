/* y = x W^T for a few rows of x: x [m, k] (row stride ldx), W [n, k] (row stride ldw), y [m, n] (row stride ldy),
 * m small (a Linear at batch 2-64). OpenBLAS packs the whole of W before multiplying whatever m is, so at
 * batch 8 a 4096 x 4096 layer took ~9 ms where streaming W once takes ~3: here each thread walks its own
 * output columns, takes four rows of W at a time and multiplies them with every row of x (re-read from
 * cache for each four rows of W), four by four, 16 vector accumulators in registers. */
#include "ts_cpu.h"

#include <string.h>

#if defined(__AVX512F__)
#define TS_LANES 16
#elif defined(__AVX2__)
#define TS_LANES 8
#else
#define TS_LANES 4
#endif
#define TS_TILE 4 /* rows of x and of W per register tile */

typedef float ts_vec __attribute__((vector_size(TS_LANES * sizeof(float))));

static inline ts_vec load(const float *p) {
    ts_vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float lane_sum(ts_vec v) {
    float s = 0.0f;
    for (int l = 0; l < TS_LANES; l++) {
        s += v[l];
    }
    return s;
}

/* Rows [r0, r0 + TS_TILE) of x times rows [o0, o0 + TS_TILE) of W; rows past the end repeat the last one
 * (read, never stored), so the inner loop has no branches. */
static void tile(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw, float *y,
                 int64_t ldy, int64_t r0, int64_t o0) {
    const float *xr[TS_TILE];
    const float *wr[TS_TILE];
    for (int t = 0; t < TS_TILE; t++) {
        xr[t] = x + (r0 + t < m ? r0 + t : m - 1) * ldx;
        wr[t] = w + (o0 + t < n ? o0 + t : n - 1) * ldw;
    }
    ts_vec acc[TS_TILE][TS_TILE] = {{{0}}};
    const int64_t kv = k / TS_LANES * TS_LANES;
    for (int64_t i = 0; i < kv; i += TS_LANES) {
        ts_vec wv[TS_TILE];
        for (int t = 0; t < TS_TILE; t++) {
            wv[t] = load(wr[t] + i);
        }
        for (int u = 0; u < TS_TILE; u++) {
            const ts_vec xv = load(xr[u] + i);
            for (int t = 0; t < TS_TILE; t++) {
                acc[u][t] += xv * wv[t];
            }
        }
    }
    for (int u = 0; u < TS_TILE && r0 + u < m; u++) {
        for (int t = 0; t < TS_TILE && o0 + t < n; t++) {
            float s = lane_sum(acc[u][t]);
            for (int64_t i = kv; i < k; i++) {
                s += xr[u][i] * wr[t][i];
            }
            y[(r0 + u) * ldy + o0 + t] = s;
        }
    }
}

int TS_FN(ts_gemm_small_m_nt_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w,
                                  int64_t ldw, float *y, int64_t ldy) {
    const int64_t column_tiles = (n + TS_TILE - 1) / TS_TILE;
#pragma omp parallel for schedule(static) if (n * k >= TS_PARALLEL_MIN)
    for (int64_t c = 0; c < column_tiles; c++) {
        for (int64_t r0 = 0; r0 < m; r0 += TS_TILE) {
            tile(m, n, k, x, ldx, w, ldw, y, ldy, r0, c * TS_TILE);
        }
    }
    return TS_OK;
}
