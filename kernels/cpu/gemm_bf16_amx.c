/* x [m, k] (F32) times a BF16 weight W [n, k] (torch.nn.Linear's layout, used as stored) on AMX-BF16 tiles, for
 * prefill-sized inputs (more rows than a decoding step, which ts_gemv_bf16 streams): y [m, n] = x W^T.
 *
 * TDPBF16PS multiplies pairs of BF16 values and sums them in F32; a BF16 x BF16 product is exact in F32. To keep
 * x exact too, each x is split into three BF16 pieces, hi = x truncated to BF16, mid = (x - hi) truncated, lo =
 * x - hi - mid (each difference exact in F32, and lo fits BF16's 8 bits), and the weight tile is multiplied by all
 * three: the sum of the pieces is x (barring pieces below F32's normal range, which the tiles read as 0). So y
 * differs from an F32 GEMM of the same values only by F32 summation order, as any two GEMMs do; an infinite x keeps
 * its hi piece alone.
 *
 * The weight tile (16 output channels x 32 inputs) loads straight from W; the pieces of x are packed once per call,
 * 2 consecutive inputs of one row per 32-bit word: packed[piece][k / 2][rows][2]. The last n % 16 channels are
 * plain F32 loops. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amx.h"
#include "tessera/ts_convert.h"

#if defined(TS_AMX)
#define TILE_ROWS AMX_TILE_ROWS
#define TILE_PAIRS (AMX_TILE_BYTES / 4) /* BF16 pairs per tile row */
#define TILE_K (2 * TILE_PAIRS) /* inputs per weight tile row */
#define PIECES 3
#define ROW_BLOCK 128 /* rows packed and multiplied at a time (see ts_gemm_bf16_f32) */

/* x's top 16 bits: the BF16 value nearest x toward zero, which never overflows (rounding x to nearest can, above
 * 3.3961e38), and whose difference from x is exact in F32 and has at most 16 significant bits. */
static inline uint16_t truncated(float x) {
    ts_f32_bits b = {.f = x};
    return (uint16_t)(b.u >> 16);
}

/* The three pieces of x: hi and mid truncated, lo the rest (at most 8 significant bits, so exact in BF16); a
 * non-finite x is its own hi piece (ts_f32_to_bf16 keeps an infinity, and a NaN stays a NaN), with mid = lo = 0. */
static inline void split(float x, uint16_t piece[PIECES]) {
    if (!isfinite(x)) {
        piece[0] = ts_f32_to_bf16(x);
        piece[1] = piece[2] = 0;
        return;
    }
    piece[0] = truncated(x);
    const float r1 = x - ts_bf16_to_f32(piece[0]);
    piece[1] = truncated(r1);
    piece[2] = ts_f32_to_bf16(r1 - ts_bf16_to_f32(piece[1]));
}

/* Channels [n0, n0 + 16 ca) of rows [r0, r0 + 16 rb), ca and rb 1 or 2: sums[a][b][channel][row], the three pieces of
 * x summed. Two weight tiles (4, 5) times two tiles of x (6, 7) into four sums: 8 tile loads per 12 products where one
 * weight tile against four of x took 13, 1.1x faster (C harness, TinyLlama's shapes, 128 and 1024 rows, weights not
 * cached). Each sum adds the same products in the same order either way. */
AMX_TARGET static void bf16_block(int64_t k, const uint16_t *w, const uint16_t *packed, int64_t ldp, int64_t piece_bytes,
                                  int64_t r0, int ca, int rb, float sums[2][2][TILE_ROWS][TILE_ROWS]) {
    AMX_ZERO_SUMS();
    for (int64_t k0 = 0; k0 < k; k0 += TILE_K) {
        _tile_loadd(4, w + k0, k * 2);
        if (ca > 1) _tile_loadd(5, w + TILE_ROWS * k + k0, k * 2);
        for (int p = 0; p < PIECES; p++) {
            const char *xr = (const char *)packed + p * piece_bytes + (k0 / 2) * ldp + r0 * 4;
            _tile_loadd(6, xr, ldp);
            _tile_dpbf16ps(0, 4, 6);
            if (ca > 1) _tile_dpbf16ps(2, 5, 6);
            if (rb > 1) {
                _tile_loadd(7, xr + TILE_ROWS * 4, ldp);
                _tile_dpbf16ps(1, 4, 7);
                if (ca > 1) _tile_dpbf16ps(3, 5, 7);
            }
        }
    }
    _tile_stored(0, sums[0][0], AMX_TILE_BYTES);
    if (rb > 1) _tile_stored(1, sums[0][1], AMX_TILE_BYTES);
    if (ca > 1) _tile_stored(2, sums[1][0], AMX_TILE_BYTES);
    if (ca > 1 && rb > 1) _tile_stored(3, sums[1][1], AMX_TILE_BYTES);
}

AMX_TARGET static void bf16_worker(int64_t m, int64_t n, int64_t k, const uint16_t *w, const uint16_t *packed, int64_t ldp,
                                   int64_t piece_bytes, float *y) {
    amx_configure();
    float sums[2][2][TILE_ROWS][TILE_ROWS];
    const int64_t tiled = n / TILE_ROWS * TILE_ROWS; /* channels in whole tiles */
#pragma omp for schedule(static)
    for (int64_t b = 0; b < (tiled / TILE_ROWS + 1) / 2; b++) {
        const int64_t n0 = b * 2 * TILE_ROWS;
        const int ca = tiled - n0 >= 2 * TILE_ROWS ? 2 : 1;
        for (int64_t r0 = 0; r0 < m; r0 += 2 * TILE_ROWS) {
            const int64_t left = m - r0 < 2 * TILE_ROWS ? m - r0 : 2 * TILE_ROWS;
            bf16_block(k, w + n0 * k, packed, ldp, piece_bytes, r0, ca, left > TILE_ROWS ? 2 : 1, sums);
            for (int a = 0; a < ca; a++)
                for (int64_t i = 0; i < left; i++)
                    for (int j = 0; j < TILE_ROWS; j++)
                        y[(r0 + i) * n + n0 + a * TILE_ROWS + j] = sums[a][i / TILE_ROWS][j][i % TILE_ROWS];
        }
    }
    _tile_release();
}

/* Rows [0, m) of one block (at most ROW_BLOCK): x's pieces packed, then every channel against them. */
static int gemm_row_block(int64_t m, int64_t n, int64_t k, const float *x, const uint16_t *w, float *y) {
    const int64_t rows = (m + TILE_ROWS - 1) / TILE_ROWS * TILE_ROWS;
    const int64_t ldp = rows * 4; /* bytes per packed row of 2 inputs */
    const int64_t piece_bytes = (k / 2) * ldp;
    uint16_t *packed = aligned_alloc(64, (size_t)(PIECES * piece_bytes));
    if (!packed) return TS_ERR_NOMEM;
    for (int64_t q = 0; q < k / 2; q++) {
        for (int64_t i = 0; i < rows; i++) {
            uint16_t a[PIECES] = {0}, b[PIECES] = {0};
            if (i < m) {
                split(x[i * k + 2 * q], a);
                split(x[i * k + 2 * q + 1], b);
            }
            for (int p = 0; p < PIECES; p++) {
                uint16_t *pair = (uint16_t *)((char *)packed + p * piece_bytes + q * ldp + i * 4);
                pair[0] = a[p];
                pair[1] = b[p];
            }
        }
    }
#pragma omp parallel if (n >= 2 * TILE_ROWS && m * n * k >= (1 << 22))
    bf16_worker(m, n, k, w, packed, ldp, piece_bytes, y);
    free(packed);
    for (int64_t j = n / TILE_ROWS * TILE_ROWS; j < n; j++) { /* the last n % 16 channels */
        for (int64_t i = 0; i < m; i++) {
            float s = 0.0f;
            for (int64_t c = 0; c < k; c++) s += x[i * k + c] * ts_bf16_to_f32(w[j * k + c]);
            y[i * n + j] = s;
        }
    }
    return TS_OK;
}

int TS_FN(ts_gemm_bf16_f32)(int64_t m, int64_t n, int64_t k, const float *x, const uint16_t *w, float *y) {
    if (!TS_FN(amx_ready)(AMX_BF16_BIT) || k % TILE_K != 0) return TS_ERR_UNKNOWN;
    /* A block of rows at a time, so that its packed pieces stay in the core's L2 while every channel tile passes
     * over them (all 1024 rows of a prompt packed at once, 4.7 MB at k = 768, were re-read from L3 per channel
     * tile: BF16 prefill of 1024 tokens ran at half the speed of 128); the weight is read once per block. */
    for (int64_t r0 = 0; r0 < m; r0 += ROW_BLOCK) {
        const int status = gemm_row_block(m - r0 < ROW_BLOCK ? m - r0 : ROW_BLOCK, n, k, x + r0 * k, w, y + r0 * n);
        if (status != TS_OK) return status;
    }
    return TS_OK;
}

#else

int TS_FN(ts_gemm_bf16_f32)(int64_t m, int64_t n, int64_t k, const float *x, const uint16_t *w, float *y) {
    (void)m, (void)n, (void)k, (void)x, (void)w, (void)y;
    return TS_ERR_UNKNOWN; /* no AMX on this tier: the caller takes its other path */
}

#endif
