/* The int8 product of ts_gemm_q8_f32 on AVX-512 VNNI for prefill-sized inputs (more rows than a decoding step) on
 * CPUs without AMX. The decoding tiles of gemm_q8.c take dot products along k and reduce each accumulator across its
 * lanes at the end, which costs about as much as the products themselves once many rows share a weight row; here
 * every lane is its own output channel, so nothing is reduced:
 *
 *  - Each thread packs 48 output channels (a panel) of the weight at a time as packed[k / 4][48][4]: one 64-byte load
 *    is 4 consecutive inputs of 16 channels, the layout vpdpbusd multiplies by 4 bytes of one activation row
 *    broadcast to every lane (an embedded {1to16} broadcast from memory, no register).
 *  - vpdpbusd multiplies unsigned by signed bytes. The weight codes become the unsigned side at packing, shifted by
 *    +128 (xor 0x80); the activation codes stay signed and as quantized, so each row's dot products carry
 *    128 * sum(x row), subtracted in the epilogue (the row sums are taken once per call).
 *  - A tile is 8 rows x 48 channels: 24 accumulators and 3 weight vectors of the 32 registers.
 * The int32 sums are the exact dot products every other path computes and the epilogue is ts_q8_epilogue's fma in
 * vector form, so the results equal the decoding tiles' bit for bit (Int8ProductPathsTest). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_q8.h"

#if defined(TS_Q8_VNNI)
#include <immintrin.h>

#define PANEL 48 /* output channels per packed panel: 3 vectors of 16 */
#define VNNI_TARGET __attribute__((target("avx512vnni")))

/* Channels [n0, n0 + count) of the weight, count <= PANEL, as packed[k / 4][PANEL][4] of unsigned codes (w + 128);
 * missing channels pack as 0, so they add nothing and their outputs are never stored. */
static void pack_panel(const int8_t *w, int64_t k, int64_t n0, int count, uint32_t *packed) {
    const int64_t groups = k / 4;
    if (count < PANEL) memset(packed, 0, (size_t)(groups * PANEL) * sizeof(uint32_t));
    for (int c = 0; c < count; c++) {
        const int8_t *row = w + (n0 + c) * k;
        for (int64_t q = 0; q < groups; q++) {
            uint32_t word;
            memcpy(&word, row + 4 * q, 4);
            packed[q * PANEL + c] = word ^ 0x80808080u;
        }
    }
}

/* Rows [r0, r0 + R) x the panel's 48 channels: 8 accumulator rows of 3 vectors, then the epilogue. */
#define Q8_VNNI_PANEL_TILE(R)                                                                                       \
    VNNI_TARGET static void panel_tile_##R(const q8_operands *op, const uint32_t *packed, const int32_t *xsum,       \
                                           int64_t r0, int64_t n0, int count) {                                     \
        const int64_t k = op->k;                                                                                    \
        __m512i acc[R][3];                                                                                          \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                       \
            acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_si512();                                             \
        }                                                                                                           \
        const int8_t *x = op->xq + r0 * k;                                                                          \
        for (int64_t q = 0; q < k / 4; q++) {                                                                       \
            const __m512i w0 = _mm512_load_si512(packed + q * PANEL);                                               \
            const __m512i w1 = _mm512_load_si512(packed + q * PANEL + 16);                                          \
            const __m512i w2 = _mm512_load_si512(packed + q * PANEL + 32);                                          \
            _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                   \
                int32_t word;                                                                                       \
                memcpy(&word, x + i * k + 4 * q, 4);                                                                \
                const __m512i xb = _mm512_set1_epi32(word);                                                         \
                acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], w0, xb);                                                 \
                acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], w1, xb);                                                 \
                acc[i][2] = _mm512_dpbusd_epi32(acc[i][2], w2, xb);                                                 \
            }                                                                                                       \
        }                                                                                                           \
        __m512i sums[R * 3]; /* out of registers only now: passing acc itself made gcc keep it on the stack */       \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                       \
            sums[3 * i] = acc[i][0], sums[3 * i + 1] = acc[i][1], sums[3 * i + 2] = acc[i][2];                      \
        }                                                                                                           \
        epilogue(op, sums, R, xsum, r0, n0, count);                                                                 \
    }

/* y[r0 + i][n0 + j] = ts_q8_epilogue(acc[i][j] - 128 * xsum[r0 + i], xs, ws, bias) in vector form: the same float
 * operations in the same order, so the same bits. Only the panel's first `count` channels are stored. */
VNNI_TARGET static void epilogue(const q8_operands *op, const __m512i *acc, int rows, const int32_t *xsum, int64_t r0,
                                 int64_t n0, int count) {
    __m512 ws[3], bias[3];
    __mmask16 live[3];
    for (int j = 0; j < 3; j++) {
        const int left = count - 16 * j;
        live[j] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        ws[j] = _mm512_maskz_loadu_ps(live[j], op->ws + n0 + 16 * j);
        bias[j] = op->bias ? _mm512_maskz_loadu_ps(live[j], op->bias + n0 + 16 * j) : _mm512_setzero_ps();
    }
    for (int i = 0; i < rows; i++) {
        const __m512i shift = _mm512_set1_epi32(128 * xsum[r0 + i]);
        const __m512 xs = _mm512_set1_ps(op->xs[r0 + i]);
        float *out = op->y + (r0 + i) * op->ldy + n0;
        for (int j = 0; j < 3; j++) {
            const __m512 dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[3 * i + j], shift));
            _mm512_mask_storeu_ps(out + 16 * j, live[j], _mm512_fmadd_ps(dot, _mm512_mul_ps(xs, ws[j]), bias[j]));
        }
    }
}

Q8_VNNI_PANEL_TILE(8)
Q8_VNNI_PANEL_TILE(4)
Q8_VNNI_PANEL_TILE(2)
Q8_VNNI_PANEL_TILE(1)

/* Rows [0, m) of one packed panel: 8 at a time, then the last m % 8 as 4, 2 and 1. */
static void panel_rows(const q8_operands *op, const uint32_t *packed, const int32_t *xsum, int64_t n0, int count) {
    int64_t r0 = 0;
    for (; r0 + 8 <= op->m; r0 += 8) panel_tile_8(op, packed, xsum, r0, n0, count);
    if (op->m - r0 >= 4) panel_tile_4(op, packed, xsum, r0, n0, count), r0 += 4;
    if (op->m - r0 >= 2) panel_tile_2(op, packed, xsum, r0, n0, count), r0 += 2;
    if (op->m - r0 >= 1) panel_tile_1(op, packed, xsum, r0, n0, count);
}

/* Below this many multiply-adds one thread is faster than an OpenMP region (as gemm_q8.c's threshold). */
#define VNNI_PARALLEL_MIN_MACS (1 << 22)

int TS_FN(q8_vnni_gemm)(const q8_operands *op) {
    const int64_t m = op->m, n = op->n, k = op->k;
    int32_t *xsum = malloc((size_t)m * sizeof(int32_t));
    if (!xsum) return TS_ERR_NOMEM;
    for (int64_t i = 0; i < m; i++) {
        int32_t sum = 0;
        for (int64_t c = 0; c < k; c++) sum += op->xq[i * k + c];
        xsum[i] = sum;
    }
    const int64_t panels = (n + PANEL - 1) / PANEL;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if (panels > 1 && m * n * k >= VNNI_PARALLEL_MIN_MACS)
    {
        uint32_t *packed = aligned_alloc(64, (size_t)(k / 4 * PANEL) * sizeof(uint32_t));
        if (!packed) failed = 1;
#pragma omp for schedule(static)
        for (int64_t p = 0; p < panels; p++) {
            if (!packed) continue;
            const int count = n - p * PANEL < PANEL ? (int)(n - p * PANEL) : PANEL;
            pack_panel(op->wq, k, p * PANEL, count, packed);
            panel_rows(op, packed, xsum, p * PANEL, count);
        }
        free(packed);
    }
    free(xsum);
    return failed ? TS_ERR_NOMEM : TS_OK;
}

#endif
