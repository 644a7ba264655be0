/* y = x W^T for a few rows of x: x [m, k] (row stride ldx), W [n, k] (row stride ldw), y [m, n] (row stride ldy),
 * m small (a Linear at batch 2-64). OpenBLAS packs the whole of W before multiplying whatever m is, so at
 * batch 8 a 4096 x 4096 layer took ~9 ms where streaming W once takes ~3: here each thread walks its own
 * output columns, takes four rows of W at a time and multiplies them with every row of x (re-read from
 * cache for each four rows of W), four by four, 16 vector accumulators in registers (up to 12 rows on AVX-512,
 * eight by three: see NARROW_MAX_ROWS). */
#include "ts_cpu.h"
#include "ts_vec.h"

#define TS_TILE 4 /* rows of x and of W per register tile, beyond NARROW_MAX_ROWS */

/* Rows [r0, r0 + XR) of x times rows [o0, o0 + WR) of W, XR x WR vector accumulators; rows past the end repeat the
 * last one (read, never stored), so the inner loop has no branches. With PREFETCH, each W row is fetched that many
 * floats ahead. */
#define SMALL_TILE(XR, WR, PREFETCH, NAME)                                                                        \
    static void NAME(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw,     \
                     float *y, int64_t ldy, int64_t r0, int64_t o0) {                                             \
        const float *xr[XR];                                                                                      \
        const float *wr[WR];                                                                                      \
        for (int t = 0; t < XR; t++) xr[t] = x + (r0 + t < m ? r0 + t : m - 1) * ldx;                             \
        for (int t = 0; t < WR; t++) wr[t] = w + (o0 + t < n ? o0 + t : n - 1) * ldw;                             \
        ts_vec acc[XR][WR] = {{{0}}};                                                                             \
        const int64_t kv = k / TS_LANES * TS_LANES;                                                               \
        for (int64_t i = 0; i < kv; i += TS_LANES) {                                                              \
            ts_vec wv[WR];                                                                                        \
            for (int t = 0; t < WR; t++) {                                                                        \
                wv[t] = load(wr[t] + i);                                                                          \
                if (PREFETCH) __builtin_prefetch(wr[t] + i + PREFETCH, 0, 2);                                     \
            }                                                                                                     \
            for (int u = 0; u < XR; u++) {                                                                        \
                const ts_vec xv = load(xr[u] + i);                                                                \
                for (int t = 0; t < WR; t++) acc[u][t] += xv * wv[t];                                             \
            }                                                                                                     \
        }                                                                                                         \
        float sums[XR][WR];                                                                                       \
        lane_sums_into(&acc[0][0], XR * WR, &sums[0][0]);                                                         \
        for (int u = 0; u < XR && r0 + u < m; u++) {                                                              \
            for (int t = 0; t < WR && o0 + t < n; t++) {                                                          \
                float s = sums[u][t];                                                                             \
                for (int64_t i = kv; i < k; i++) s += xr[u][i] * wr[t][i];                                        \
                y[(r0 + u) * ldy + o0 + t] = s;                                                                   \
            }                                                                                                     \
        }                                                                                                         \
    }

/* Four rows of x against four of W (16 accumulators), the rows of x re-read from cache for every four rows of W. */
SMALL_TILE(TS_TILE, TS_TILE, 0, tile)

#if TS_LANES == 16
/* Up to 12 rows (batched decoding) on AVX-512's 32 registers: eight rows of x against three of W (24 accumulators),
 * then four against three, and W fetched 2 KiB ahead. Four by four read W from memory for the first four rows and
 * from cache for the next four, so memory idled half the time: TinyLlama's block products at 8 rows 1.05-1.13x
 * faster (C harness, alternated), 4 rows 1.13x, 12 rows 1.04x; from 15 rows on the narrower W tiles cost more than
 * they save (0.95x at 15, 0.88x at 32), so those keep four by four. */
#define NARROW_MAX_ROWS 12
#define NARROW_W_ROWS 3
#define NARROW_PREFETCH 512
SMALL_TILE(8, NARROW_W_ROWS, NARROW_PREFETCH, tile_narrow8)
SMALL_TILE(4, NARROW_W_ROWS, NARROW_PREFETCH, tile_narrow4)

static void narrow(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw, float *y,
                   int64_t ldy) {
    const int64_t column_tiles = (n + NARROW_W_ROWS - 1) / NARROW_W_ROWS;
#pragma omp parallel for schedule(static) if (n * k >= TS_PARALLEL_MIN)
    for (int64_t c = 0; c < column_tiles; c++) {
        int64_t r0 = 0;
        for (; r0 + 8 <= m; r0 += 8) tile_narrow8(m, n, k, x, ldx, w, ldw, y, ldy, r0, c * NARROW_W_ROWS);
        for (; r0 < m; r0 += 4) tile_narrow4(m, n, k, x, ldx, w, ldw, y, ldy, r0, c * NARROW_W_ROWS);
    }
}
#endif

int TS_FN(ts_gemm_small_m_nt_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w,
                                  int64_t ldw, float *y, int64_t ldy) {
#if TS_LANES == 16
    if (m <= NARROW_MAX_ROWS) {
        narrow(m, n, k, x, ldx, w, ldw, y, ldy);
        return TS_OK;
    }
#endif
    const int64_t column_tiles = (n + TS_TILE - 1) / TS_TILE;
#pragma omp parallel for schedule(static) if (n * k >= TS_PARALLEL_MIN)
    for (int64_t c = 0; c < column_tiles; c++) {
        for (int64_t r0 = 0; r0 < m; r0 += TS_TILE) {
            tile(m, n, k, x, ldx, w, ldw, y, ldy, r0, c * TS_TILE);
        }
    }
    return TS_OK;
}
