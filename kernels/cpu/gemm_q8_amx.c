/* The int8 product of ts_gemm_q8_f32 on Intel AMX (Sapphire Rapids and later), for prefill-sized inputs (more rows
 * than a decoding step): one TDPBSSD multiplies a 16 x 64 tile of signed bytes by a 64 x 16 one into 16 x 16 int32
 * sums, 16,384 multiply-adds (an AVX-512 VNNI instruction does 64). The sums are the exact int32 dot products every other
 * path computes, and the same epilogue scales them, so the results are bit-identical to the VNNI tiles'.
 *
 * Layout: the weight is used as stored ([out, in] int8 rows): a tile of 16 output channels x 64 inputs loads
 * straight from it, as the left operand, so the weight is never packed. The activation codes (small: rows x k bytes)
 * are packed once per call into the right operand's layout, 4 consecutive inputs of one row per 32-bit word:
 * packed[k / 4][rows][4], ROW_BLOCK rows at a time. Each 16-channel block runs all the block's row groups while its
 * weight rows (16 x k bytes) stay in L2, so the weight is read from memory once per row block. Packing all rows of
 * a long prompt at once (1024 x 5632 bytes for TinyLlama's down projection) outgrew L2, and every channel block
 * re-read them from L3: 256 rows at a time made TinyLlama's four products at 1024 rows 1.75x faster (C harness,
 * bit-identical), and changed nothing at 128.
 *
 * Linux hands out AMX state only to processes that ask (amx.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_q8.h"

#if defined(TS_AMX)
#define TILE_ROWS AMX_TILE_ROWS
#define TILE_BYTES AMX_TILE_BYTES /* per tile row: 64 int8 inputs of the left operand, 16 words of the right one */
#define ROW_GROUP (4 * TILE_ROWS) /* activation rows per pass: four 16 x 16 accumulator tiles */
#define ROW_BLOCK 256 /* activation rows packed and multiplied at a time (see q8_amx_gemm) */

/* Output channels [n0, n0 + 16) for rows [r0, r0 + 16 * groups): sums[j][channel][row] for each 16-row group j. */
AMX_TARGET static void amx_block(int64_t k, const int8_t *w, const int8_t *packed, int64_t ldp, int64_t r0, int groups,
                                 int32_t sums[4][TILE_ROWS][TILE_ROWS]) {
    AMX_ZERO_SUMS();
    for (int64_t k0 = 0; k0 < k; k0 += TILE_BYTES) {
        _tile_loadd(4, w + k0, k);
        AMX_ROW_GROUPS(_tile_dpbssd, packed + (k0 / 4) * ldp + r0 * 4, ldp, groups);
    }
    AMX_STORE_SUMS(sums, groups);
}

/* One thread's share of the 16-channel blocks for rows [m0, m0 + m), between configuring its tiles and releasing them. */
AMX_TARGET static void amx_worker(const q8_operands *op, int64_t m0, int64_t m, const int8_t *packed, int64_t ldp) {
    amx_configure();
    int32_t sums[4][TILE_ROWS][TILE_ROWS];
    const int64_t k = op->k;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < op->n / TILE_ROWS; b++) {
        const int64_t n0 = b * TILE_ROWS;
        for (int64_t r0 = 0; r0 < m; r0 += ROW_GROUP) {
            const int64_t left = m - r0 < ROW_GROUP ? m - r0 : ROW_GROUP;
            amx_block(k, op->wq + n0 * k, packed, ldp, r0, (int)((left + TILE_ROWS - 1) / TILE_ROWS), sums);
            for (int64_t i = 0; i < left; i++) {
                float *out = op->y + (m0 + r0 + i) * op->ldy + n0;
                const int32_t(*g)[TILE_ROWS] = sums[i / TILE_ROWS];
                const float xs = op->xs[m0 + r0 + i];
                for (int j = 0; j < TILE_ROWS; j++)
                    out[j] = ts_q8_epilogue(g[j][i % TILE_ROWS], xs, op->ws[n0 + j], op->bias ? op->bias[n0 + j] : 0.0f);
            }
        }
    }
    _tile_release();
}

int TS_FN(q8_amx_gemm)(const q8_operands *op) {
    const int64_t k = op->k, blocks = op->n / TILE_ROWS;
    const int64_t block_rows = op->m < ROW_BLOCK ? op->m : ROW_BLOCK;
    const int64_t ldp = (block_rows + TILE_ROWS - 1) / TILE_ROWS * TILE_ROWS * 4;
    int8_t *packed = aligned_alloc(64, (size_t)((k / 4) * ldp));
    if (!packed) return TS_ERR_NOMEM;
    for (int64_t m0 = 0; m0 < op->m; m0 += ROW_BLOCK) {
        const int64_t m = op->m - m0 < ROW_BLOCK ? op->m - m0 : ROW_BLOCK;
        const int64_t rows = (m + TILE_ROWS - 1) / TILE_ROWS * TILE_ROWS;
        for (int64_t q = 0; q < k / 4; q++) {
            int32_t *out = (int32_t *)(packed + q * ldp);
            for (int64_t i = 0; i < m; i++) memcpy(out + i, op->xq + (m0 + i) * k + 4 * q, 4);
            for (int64_t i = m; i < rows; i++) out[i] = 0;
        }
#pragma omp parallel if (blocks > 1 && m * k * TILE_ROWS * blocks >= (1 << 22))
        amx_worker(op, m0, m, packed, ldp);
    }
    free(packed);
    return TS_OK;
}

#endif
