/* int8 matrix products for quantized Linear layers: y = (xq wq^T) * xs * ws + bias, where xq holds per-row
 * int8 codes of the activations (quantized on the fly) and wq per-output-channel int8 codes of the weight
 * in its natural [out, in] layout, so a checkpoint's int8 tensor is used as stored, without packing.
 *
 * The int32 dot products are exact on every path, so all tiers give bit-identical results:
 *  - AVX-512 VNNI: vpdpbusd multiplies unsigned by signed bytes, so the activation codes are shifted by
 *    +128 (xor 0x80) and 128 * sum(w row) is subtracted afterwards (summed by the first row tile in the
 *    same pass over the weight rows, so the weight needs no companion tensor and is read once).
 *  - AVX2 (and AVX-512 without VNNI): vpmaddubsw on |x| and sign(w, x); |x| <= 127, so the pairwise int16
 *    sums stay below 2 * 127 * 127 and never saturate.
 *  - base: plain int32 loops.
 * One activation row (decoding) runs q8_row_dot_vnni instead, which flips the weight's codes rather than x's.
 * Tiles of MR rows x NR output channels keep their MR * NR accumulators in registers and read each weight row once
 * per tile; OpenMP splits the output channels, or at up to 64 rows (decoding, batched decoding) the persistent pool
 * of ts_pool.h, whose idle workers poll instead of sleeping between the many small products of a decoding step.
 * Above 8 rows, CPUs with AMX run gemm_q8_amx.c's tiles instead; above 64 (prefill), CPUs with VNNI but no AMX
 * gemm_q8_vnni.c's packed panels (for k a multiple of 4), both also exact. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "gemm_q8.h"
#include "tessera/ts_convert.h"
#include "ts_cpu.h"
#include "ts_pool.h"

/* 4 x 4 keeps the VNNI tile's 16 accumulators, 4 weight vectors and the masked K tail in registers; wider
 * tiles (4 x 5, 4 x 6) made gcc spill and ran slower here. */
#define MR 4
#define NR 4

/* Fully unrolled tile loops keep the accumulators in registers (without it gcc keeps a stack copy). */
#define Q8_UNROLL _Pragma("GCC unroll 4")

/* Work below which one thread is faster than an OpenMP region: with passive waiting, waking the other thread
 * costs tens of microseconds, about what a decoding step's 768 x 3072 single-row product takes alone. Measured
 * on the 48 single-row products of a GPT-2-sized step (85 MB of int8 weights, not cache-resident): 3.7-3.9 ms
 * with this threshold against 4.8-5.5 ms with 2^20. */
#define Q8_PARALLEL_MIN_MACS (1 << 22)
/* Up to this many rows (decoding, batched too), the channels are split over the persistent pool (ts_pool.h)
 * instead, whose idle workers poll for a while before they sleep, from this much work up: its column tiles stream
 * W once for all the rows. The packed VNNI panels (q8_vnni_gemm) pay for their packing from
 * about 96 rows (bench/gemv-step/run --dtype int8, Zen 5, alternated: GPT-2's step at 16 rows 5.7-5.9 ms
 * against 12.2-13.0 on the panels, 32 rows 10.4 against 15.4, 64 rows 19.8-21.6 against 22.5-23.1, 96 rows 27.6-32.6
 * against 25.5-28.1; TinyLlama's at 16 rows 42 against 96 ms, 64 rows 132 against 160-218). */
#ifndef Q8_POOL_MAX_ROWS
#define Q8_POOL_MAX_ROWS 64
#endif
/* From this many rows, AMX tiles where the CPU has them (before the pool: AMX was not measured against it, there is
 * no AMX machine here), and the VNNI panels for what the pool does not take. */
#define Q8_GEMM_MIN_ROWS 9
#define Q8_POOL_MIN_MACS (1 << 16)

int TS_FN(ts_q8_outlier_columns)(int64_t rows, int64_t cols, const float *restrict x, int64_t ldx, float threshold,
                                  uint8_t *restrict flags) {
    memset(flags, 0, (size_t)cols);
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * ldx;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) flags[c] |= fabsf(row[c]) > threshold;
    }
    int64_t count = 0;
    for (int64_t c = 0; c < cols; c++) count += flags[c];
    return (int)(count < 0x7fffffff ? count : 0x7fffffff);
}

/* The element types quantize_rows reads, each widened to F32 exactly. */
enum { Q8_F32, Q8_BF16, Q8_F16 };

static inline float q8_input(const void *x, int64_t i, int type) {
    if (type == Q8_BF16) return ts_bf16_to_f32(((const uint16_t *)x)[i]);
    if (type == Q8_F16) return ts_f16_to_f32(((const uint16_t *)x)[i]);
    return ((const float *)x)[i];
}

/* Row r of ts_quantize_rows_q8 (x F32) or ts_quantize_rows_{bf16,f16}_q8 (the same codes and scales as x's F32 copy
 * would get, without one); returns 1 when the row holds NaN or an infinity. */
static inline __attribute__((always_inline)) int quantize_row_q8(int64_t r, int64_t cols, const void *x, int64_t ldx,
                                                                 int type, const uint8_t *restrict exclude,
                                                                 int8_t *restrict q, float *restrict scales) {
    const int64_t row = r * ldx;
    int8_t *out = q + r * cols;
    float absmax = 0.0f;
    int finite = 1;
    if (exclude) {
#pragma omp simd reduction(max : absmax) reduction(& : finite)
        for (int64_t c = 0; c < cols; c++) {
            const float v = q8_input(x, row + c, type);
            const float a = exclude[c] ? 0.0f : fabsf(v);
            absmax = a > absmax ? a : absmax;
            finite &= isfinite(v) != 0;
        }
    } else {
#pragma omp simd reduction(max : absmax) reduction(& : finite)
        for (int64_t c = 0; c < cols; c++) {
            const float v = q8_input(x, row + c, type);
            const float a = fabsf(v);
            absmax = a > absmax ? a : absmax;
            finite &= isfinite(v) != 0;
        }
    }
    const float scale = ts_q8_scale(absmax);
    scales[r] = scale;
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) out[c] = (exclude && exclude[c]) ? 0 : ts_q8_quantize(q8_input(x, row + c, type), scale);
    return !finite;
}

static int quantize_rows(int64_t rows, int64_t cols, const void *x, int64_t ldx, int type, const uint8_t *exclude, int8_t *q,
                         float *scales) {
    int bad = 0;
#define QUANTIZE_ROWS(TYPE)                                                                                             \
    TS_PARALLEL_FOR_IF(rows * cols >= TS_PARALLEL_MIN, omp parallel for schedule(static) reduction(| : bad), r, rows, \
                       { bad |= quantize_row_q8(r, cols, x, ldx, TYPE, exclude, q, scales); })
    /* one loop per type, the type a constant in each, so the loads specialise */
    if (type == Q8_BF16) QUANTIZE_ROWS(Q8_BF16);
    else if (type == Q8_F16) QUANTIZE_ROWS(Q8_F16);
    else QUANTIZE_ROWS(Q8_F32);
#undef QUANTIZE_ROWS
    return bad ? TS_ERR_NONFINITE : TS_OK;
}

int TS_FN(ts_quantize_rows_q8)(int64_t rows, int64_t cols, const float *restrict x, int64_t ldx,
                               const uint8_t *restrict exclude, int8_t *restrict q, float *restrict scales) {
    return quantize_rows(rows, cols, x, ldx, Q8_F32, exclude, q, scales);
}

/* A BF16 or F16 weight quantized as it is read from its checkpoint: widening it into an F32 copy first was 20% of a
 * 1.1B model's load, and zeroing the copy's fresh pages most of another 10%. */
int TS_FN(ts_quantize_rows_bf16_q8)(int64_t rows, int64_t cols, const uint16_t *restrict x, int64_t ldx,
                                    const uint8_t *restrict exclude, int8_t *restrict q, float *restrict scales) {
    return quantize_rows(rows, cols, x, ldx, Q8_BF16, exclude, q, scales);
}

int TS_FN(ts_quantize_rows_f16_q8)(int64_t rows, int64_t cols, const uint16_t *restrict x, int64_t ldx,
                                   const uint8_t *restrict exclude, int8_t *restrict q, float *restrict scales) {
    return quantize_rows(rows, cols, x, ldx, Q8_F16, exclude, q, scales);
}

/* Exact int32 dot products of `mr` activation rows with `nr` weight rows, all of length k. Where the dot products
 * need a per-weight-row correction (VNNI), the tiles in q8_tiles.first also write it to shift[0..nr); every other
 * tile leaves shift alone. */
typedef void (*q8_tile_fn)(int64_t k, const int8_t *x, const int8_t *w, int32_t acc[MR][NR], int32_t *shift);

#if defined(__AVX512BW__)
/* How far ahead of a one-row tile the weight rows are prefetched: streaming a decoding step's weights from memory
 * went from 25 to 28 GB/s on 2 cores with it (hardware prefetchers alone leave one stream per row idle). Into L2
 * (T1), not L1: TinyLlama's int8 matrices read at 42-46 against 36 GB/s with T0, alternating with a 1 GiB sum at
 * 53-57 in a C harness (2 Zen 4 cores), where 2 KiB ahead was worse than 1; on the Zen 5 machine, alternated in
 * the same harness (bench/gemv-step/run --dtype int8), 4 KiB ahead read at 1.01-1.06 of the sum's rate against
 * 0.79-0.92 with 1 KiB. Tiles of MR rows (batches of 4-8), three times the work per byte, prefetch the next column
 * tile's rows instead: TinyLlama's products at 8 rows 30-36 against 38-48 ms (Zen 5, alternated; 2, 4 and 8 KiB
 * ahead and two tiles ahead in between). */
#define Q8_PREFETCH_BYTES 4096
/* One 64-byte step of a VNNI tile; masked-off bytes load as 0, so they add nothing. With SUMS (the first row
 * tile, the one that brings the weight rows from memory) the rows are also summed (ones as the unsigned side),
 * for the shift, and prefetched; a prefetch past the end of the weight never faults. A tile's C rows are
 * consecutive rows of the weight, so NR * k bytes on is the next column tile. */
#define Q8_VNNI_STEP(R, C, SUMS, LIVE)                                                                          \
    do {                                                                                                        \
        const __mmask64 live = (LIVE);                                                                          \
        __m512i wv[C];                                                                                          \
        Q8_UNROLL for (int j = 0; j < C; j++) {                                                                 \
            if (SUMS) _mm_prefetch((const char *)(w + j * k + kk + (R == 1 ? Q8_PREFETCH_BYTES : NR * k)),          \
                                   _MM_HINT_T1);                                                                \
            wv[j] = _mm512_maskz_loadu_epi8(live, w + j * k + kk);                                              \
            if (SUMS) t[j] = _mm512_dpbusd_epi32(t[j], ones, wv[j]);                                            \
        }                                                                                                       \
        Q8_UNROLL for (int i = 0; i < R; i++) {                                                                 \
            const __m512i xv = _mm512_xor_si512(_mm512_maskz_loadu_epi8(live, x + i * k + kk), flip);           \
            Q8_UNROLL for (int j = 0; j < C; j++) s[i][j] = _mm512_dpbusd_epi32(s[i][j], xv, wv[j]);            \
        }                                                                                                       \
    } while (0)
#define Q8_TILE_VNNI(R, C, SUMS, NAME)                                                                          \
    __attribute__((target("avx512vnni"))) static void q8_tile_vnni_##NAME(                                     \
        int64_t k, const int8_t *x, const int8_t *w, int32_t acc[MR][NR], int32_t *shift) {                    \
        __m512i s[R][C], t[C];                                                                                  \
        Q8_UNROLL for (int j = 0; j < C; j++) {                                                                 \
            t[j] = _mm512_setzero_si512();                                                                      \
            Q8_UNROLL for (int i = 0; i < R; i++) s[i][j] = _mm512_setzero_si512();                             \
        }                                                                                                       \
        const __m512i flip = _mm512_set1_epi8((char)0x80);                                                      \
        const __m512i ones = _mm512_set1_epi8(1);                                                               \
        for (int64_t kk = 0; kk < k; kk += 64)                                                                  \
            Q8_VNNI_STEP(R, C, SUMS, k - kk >= 64 ? ~0ULL : _bzhi_u64(~0ULL, (unsigned)(k - kk)));              \
        Q8_UNROLL for (int j = 0; j < C; j++) {                                                                 \
            if (SUMS) shift[j] = 128 * _mm512_reduce_add_epi32(t[j]);                                           \
            Q8_UNROLL for (int i = 0; i < R; i++) acc[i][j] = _mm512_reduce_add_epi32(s[i][j]);                 \
        }                                                                                                       \
    }
/* Each shape twice: summing the weight rows (the first row tile of a column tile) or not (the others). */
#define Q8_TILES_VNNI(R, C, NAME) Q8_TILE_VNNI(R, C, 0, NAME) Q8_TILE_VNNI(R, C, 1, NAME##_sums)
Q8_TILES_VNNI(MR, NR, full)
Q8_TILES_VNNI(MR, 1, rows)
Q8_TILES_VNNI(1, NR, cols)
Q8_TILES_VNNI(1, 1, one)

/* One activation row (decoding) against one weight row, with the weight's codes flipped to unsigned (w + 128) instead
 * of x's: one vpdpbusd per 64 bytes instead of two (the tiles' second sums the weight row for its shift), one
 * reduction per row, and the correction, 128 * sum(x), once per product (q8_row_chunk). Q8_ROW_SUMS independent sums:
 * with one, each vpdpbusd waited on the previous one. One core of the Zen 4 machine read TinyLlama's int8 step at
 * 27.4-27.6 GB/s with two sums, 22.2-24.5 with one or four, and 19.3-19.4 through the tiles (which rows longer than
 * 1024 codes took before; alternated, OMP_NUM_THREADS=1, step.c of bench/gemv-step), so on two cores the step stays
 * at the read rate in the machine's fast phases too (the tiles stopped at 36-38 GB/s against a 57-62 GB/s sum); on
 * two cores in a slow phase 0.95-1.01 of the sum against 0.92-0.94. On the Zen 5 machine, GPT-2's step read at
 * 0.81-0.97 of the sum against 0.75-0.84 through the tiles; 4, 8 or 12 weight rows side by side (x loaded once for
 * all) read slower there: 0.58-0.73. */
#ifndef Q8_ROW_SUMS
#define Q8_ROW_SUMS 2
#endif
/* sum plus one 64-byte step of q8_row_dot_vnni at w and x (bytes outside `live` load as 0, unread), the weight row
 * Q8_PREFETCH_BYTES on prefetched. */
__attribute__((target("avx512vnni"))) static inline __m512i q8_row_step(__m512i sum, const int8_t *x, const int8_t *w,
                                                                         __mmask64 live) {
    _mm_prefetch((const char *)(w + Q8_PREFETCH_BYTES), _MM_HINT_T1);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i wv = _mm512_xor_si512(live == ~0ULL ? _mm512_loadu_si512(w) : _mm512_maskz_loadu_epi8(live, w), flip);
    return _mm512_dpbusd_epi32(sum, wv, live == ~0ULL ? _mm512_loadu_si512(x) : _mm512_maskz_loadu_epi8(live, x));
}

__attribute__((target("avx512vnni"))) static int32_t q8_row_dot_vnni(int64_t k, const int8_t *x, const int8_t *w) {
    __m512i s[Q8_ROW_SUMS];
    Q8_UNROLL for (int u = 0; u < Q8_ROW_SUMS; u++) s[u] = _mm512_setzero_si512();
    int64_t kk = 0;
    for (; kk + 64 * Q8_ROW_SUMS <= k; kk += 64 * Q8_ROW_SUMS)
        Q8_UNROLL for (int u = 0; u < Q8_ROW_SUMS; u++) s[u] = q8_row_step(s[u], x + kk + 64 * u, w + kk + 64 * u, ~0ULL);
    for (; kk < k; kk += 64) /* x's dead bytes: 0 */
        s[0] = q8_row_step(s[0], x + kk, w + kk, k - kk >= 64 ? ~0ULL : _bzhi_u64(~0ULL, (unsigned)(k - kk)));
    Q8_UNROLL for (int u = 1; u < Q8_ROW_SUMS; u++) s[0] = _mm512_add_epi32(s[0], s[u]);
    return _mm512_reduce_add_epi32(s[0]);
}
#endif

#if defined(__AVX2__)
static inline int32_t q8_hsum256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

#define Q8_TILE_AVX2(R, C, NAME)                                                                                \
    static void q8_tile_avx2_##NAME(int64_t k, const int8_t *x, const int8_t *w, int32_t acc[MR][NR], \
                                     int32_t *shift) {                                                       \
        (void)shift; /* signed products need no correction */                                                  \
        __m256i s[R][C];                                                                                        \
        Q8_UNROLL for (int i = 0; i < R; i++)                                                                             \
            Q8_UNROLL for (int j = 0; j < C; j++) s[i][j] = _mm256_setzero_si256();                                       \
        const __m256i ones = _mm256_set1_epi16(1);                                                              \
        int64_t kk = 0;                                                                                         \
        for (; kk + 32 <= k; kk += 32) {                                                                        \
            __m256i wv[C];                                                                                      \
            Q8_UNROLL for (int j = 0; j < C; j++) wv[j] = _mm256_loadu_si256((const __m256i *)(w + j * k + kk));         \
            Q8_UNROLL for (int i = 0; i < R; i++) {                                                                       \
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + i * k + kk));                      \
                const __m256i ax = _mm256_abs_epi8(xv);                                                         \
                Q8_UNROLL for (int j = 0; j < C; j++) {                                                                   \
                    const __m256i p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wv[j], xv));                   \
                    s[i][j] = _mm256_add_epi32(s[i][j], _mm256_madd_epi16(p, ones));                            \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        Q8_UNROLL for (int i = 0; i < R; i++)                                                                             \
            Q8_UNROLL for (int j = 0; j < C; j++) {                                                                       \
                int32_t t = q8_hsum256(s[i][j]);                                                                \
                for (int64_t c = kk; c < k; c++) t += (int32_t)x[i * k + c] * w[j * k + c];                     \
                acc[i][j] = t;                                                                                  \
            }                                                                                                   \
    }
Q8_TILE_AVX2(MR, NR, full)
Q8_TILE_AVX2(MR, 1, rows)
Q8_TILE_AVX2(1, NR, cols)
Q8_TILE_AVX2(1, 1, one)
#else
#define Q8_TILE_BASE(R, C, NAME)                                                                                \
    static void q8_tile_base_##NAME(int64_t k, const int8_t *x, const int8_t *w, int32_t acc[MR][NR], \
                                     int32_t *shift) {                                                       \
        (void)shift;                                                                                            \
        Q8_UNROLL for (int i = 0; i < R; i++)                                                                             \
            Q8_UNROLL for (int j = 0; j < C; j++) {                                                                       \
                int32_t t = 0;                                                                                  \
                for (int64_t c = 0; c < k; c++) t += (int32_t)x[i * k + c] * w[j * k + c];                     \
                acc[i][j] = t;                                                                                  \
            }                                                                                                   \
    }
Q8_TILE_BASE(MR, NR, full)
Q8_TILE_BASE(MR, 1, rows)
Q8_TILE_BASE(1, NR, cols)
Q8_TILE_BASE(1, 1, one)
#endif

/* The four tile shapes of this tier: [rows == MR][cols == NR]; edges use the 1-wide shapes. `first` runs the
 * first row tile of each column tile and also yields the shift (the same functions where there is none). */
typedef struct {
    q8_tile_fn tile[2][2];
    q8_tile_fn first[2][2];
} q8_tiles;

static q8_tiles q8_choose_tiles(void) {
#if defined(__AVX512BW__)
    if (__builtin_cpu_supports("avx512vnni")) {
        return (q8_tiles){{{q8_tile_vnni_one, q8_tile_vnni_cols}, {q8_tile_vnni_rows, q8_tile_vnni_full}},
                          {{q8_tile_vnni_one_sums, q8_tile_vnni_cols_sums}, {q8_tile_vnni_rows_sums, q8_tile_vnni_full_sums}}};
    }
#endif
#if defined(__AVX2__)
#define Q8_SIGNED_TILES {{q8_tile_avx2_one, q8_tile_avx2_cols}, {q8_tile_avx2_rows, q8_tile_avx2_full}}
#else
#define Q8_SIGNED_TILES {{q8_tile_base_one, q8_tile_base_cols}, {q8_tile_base_rows, q8_tile_base_full}}
#endif
    return (q8_tiles){Q8_SIGNED_TILES, Q8_SIGNED_TILES};
}

typedef struct {
    q8_operands op;
    q8_tiles tiles;
    int64_t per_chunk; /* pool path: column tiles per chunk (q8_row_chunk: output channels per chunk) */
    int32_t x_sum;     /* q8_row_chunk: the sum of x's codes */
} q8_job;

/* Output channels [ct * NR, ct * NR + NR) for every row. */
static void q8_column_tile(const q8_job *job, int64_t ct) {
    const q8_operands *op = &job->op;
    const int64_t m = op->m, n = op->n, k = op->k;
    const int64_t n0 = ct * NR;
    /* One activation row (decoding): one weight row at a time, so that each thread streams one run of memory;
     * four rows read side by side left the prefetchers behind (27 against 30 GB/s on 2 cores). */
    const int nr = n - n0 >= NR ? NR : (int)(n - n0);
    const int full_cols = nr == NR && m > 1;
    int32_t acc[MR][NR];
    int32_t shift[NR] = {0};
    for (int64_t m0 = 0; m0 < m;) {
        const int full_rows = m - m0 >= MR;
        const int mr = full_rows ? MR : 1;
        const q8_tile_fn (*tiles)[2] = m0 == 0 ? job->tiles.first : job->tiles.tile;
        if (full_cols) {
            tiles[full_rows][1](k, op->xq + m0 * k, op->wq + n0 * k, acc, shift);
        } else {
            for (int j = 0; j < nr; j++) {
                int32_t one[MR][NR];
                tiles[full_rows][0](k, op->xq + m0 * k, op->wq + (n0 + j) * k, one, shift + j);
                for (int i = 0; i < mr; i++) acc[i][j] = one[i][0];
            }
        }
        for (int i = 0; i < mr; i++) {
            float *out = op->y + (m0 + i) * op->ldy + n0;
            for (int j = 0; j < nr; j++) {
                const int32_t dot = acc[i][j] - shift[j];
                out[j] = ts_q8_epilogue(dot, op->xs[m0 + i], op->ws[n0 + j], op->bias ? op->bias[n0 + j] : 0.0f);
            }
        }
        m0 += mr;
    }
}

/* Column tiles per pool chunk: about Q8_POOL_CHUNK_BYTES of weight codes (each thread runs a contiguous range
 * of chunks, ts_pool.h). */
#define Q8_POOL_CHUNK_BYTES (32 << 10)

/* Items of `bytes` weight codes each (a column tile, a row) per pool chunk; k may be 0. */
static int64_t q8_per_chunk(int64_t bytes) {
    return Q8_POOL_CHUNK_BYTES / (bytes > 0 ? bytes : 1) + 1;
}

static void q8_pool_chunk(void *ctx, int64_t chunk) {
    const q8_job *job = ctx;
    const int64_t col_tiles = (job->op.n + NR - 1) / NR;
    const int64_t end = (chunk + 1) * job->per_chunk < col_tiles ? (chunk + 1) * job->per_chunk : col_tiles;
    for (int64_t ct = chunk * job->per_chunk; ct < end; ct++) q8_column_tile(job, ct);
}

#if defined(__AVX512BW__)
/* One activation row on a CPU with VNNI: output channels [chunk * per_chunk, chunk * per_chunk + per_chunk). */
static void q8_row_chunk(void *ctx, int64_t chunk) {
    const q8_job *job = ctx;
    const q8_operands *op = &job->op;
    const int64_t end = (chunk + 1) * job->per_chunk < op->n ? (chunk + 1) * job->per_chunk : op->n;
    for (int64_t o = chunk * job->per_chunk; o < end; o++) {
        const int32_t dot = q8_row_dot_vnni(op->k, op->xq, op->wq + o * op->k) - 128 * job->x_sum;
        op->y[o] = ts_q8_epilogue(dot, op->xs[0], op->ws[o], op->bias ? op->bias[o] : 0.0f);
    }
}

/* ts_gemm_q8_f32 for one row of x on a CPU with VNNI: about Q8_POOL_CHUNK_BYTES of weight rows per pool chunk. */
static void q8_row_product(q8_job *job) {
    const q8_operands *op = &job->op;
    int32_t x_sum = 0;
    for (int64_t c = 0; c < op->k; c++) x_sum += op->xq[c];
    job->x_sum = x_sum;
    job->per_chunk = q8_per_chunk(op->k);
    const int64_t chunks = (op->n + job->per_chunk - 1) / job->per_chunk;
    if (op->n * op->k >= Q8_POOL_MIN_MACS) {
        ts_pool_for(chunks, q8_row_chunk, job);
    } else {
        for (int64_t chunk = 0; chunk < chunks; chunk++) q8_row_chunk(job, chunk);
    }
}
#endif

int TS_FN(ts_gemm_q8_f32)(int64_t m, int64_t n, int64_t k, const int8_t *xq, const float *xs, const int8_t *wq,
                          const float *ws, const float *bias, float *y, int64_t ldy) {
    const int64_t col_tiles = (n + NR - 1) / NR;
    q8_job job = {{m, n, k, xq, xs, wq, ws, bias, y, ldy}, q8_choose_tiles(), q8_per_chunk(NR * k), 0};
#if defined(__AVX512BW__)
    if (m == 1 && __builtin_cpu_supports("avx512vnni")) {
        q8_row_product(&job);
        return TS_OK;
    }
#endif
    int amx = 0;
#if defined(TS_AMX)
    amx = m >= Q8_GEMM_MIN_ROWS && k % TS_Q8_AMX_K == 0 && n >= TS_Q8_AMX_CHANNELS && TS_FN(amx_ready)(AMX_INT8_BIT);
#endif
    if (!amx && m <= Q8_POOL_MAX_ROWS && m * n * k >= Q8_POOL_MIN_MACS) {
        ts_pool_for((col_tiles + job.per_chunk - 1) / job.per_chunk, q8_pool_chunk, (void *)&job);
        return TS_OK;
    }
    int64_t first_tile = 0;
#if defined(TS_AMX)
    if (amx) {
        const int status = TS_FN(q8_amx_gemm)(&job.op);
        if (status != TS_OK) return status;
        first_tile = n / TS_Q8_AMX_CHANNELS * TS_Q8_AMX_CHANNELS / NR; /* the last n % 16 channels: the tiles below */
    }
#endif
#if defined(TS_Q8_VNNI)
    if (!amx && m >= Q8_GEMM_MIN_ROWS && k % 4 == 0 && __builtin_cpu_supports("avx512vnni"))
        return TS_FN(q8_vnni_gemm)(&job.op);
#endif
#pragma omp parallel for schedule(static) if ((n - first_tile * NR) * m * k >= Q8_PARALLEL_MIN_MACS)
    for (int64_t ct = first_tile; ct < col_tiles; ct++) q8_column_tile(&job, ct);
    return TS_OK;
}

/* The LLM.int8 outlier part: y[i][j] += sum over c in cols of x[i][c] * wq[j][c] * ws[j], in float32. The
 * outlier activations are gathered once; the weight columns are dequantized per block of output channels. */
#define OUTLIER_BLOCK 16
int TS_FN(ts_gemm_q8_outliers_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const int64_t *cols,
                                   int64_t ncols, const int8_t *wq, const float *ws, float *y, int64_t ldy) {
    if (ncols == 0 || m == 0 || n == 0) return TS_OK;
    float *xo = malloc((size_t)(m * ncols) * sizeof(float));
    if (!xo) return TS_ERR_NOMEM;
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < ncols; c++) xo[i * ncols + c] = x[i * ldx + cols[c]];
    int failed = 0;
    const int64_t blocks = (n + OUTLIER_BLOCK - 1) / OUTLIER_BLOCK;
#pragma omp parallel reduction(| : failed) if (m * n * ncols >= TS_PARALLEL_MIN)
    {
        float *wt = malloc((size_t)ncols * OUTLIER_BLOCK * sizeof(float)); /* [ncols][OUTLIER_BLOCK] */
        if (!wt) failed = 1;
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; b++) {
            if (!wt) continue;
            const int64_t n0 = b * OUTLIER_BLOCK;
            const int64_t nb = n - n0 < OUTLIER_BLOCK ? n - n0 : OUTLIER_BLOCK;
            for (int64_t c = 0; c < ncols; c++)
                for (int64_t j = 0; j < OUTLIER_BLOCK; j++)
                    wt[c * OUTLIER_BLOCK + j] = j < nb ? ts_q8_dequantize(wq[(n0 + j) * k + cols[c]], ws[n0 + j]) : 0.0f;
            for (int64_t i = 0; i < m; i++) {
                float sum[OUTLIER_BLOCK] = {0};
                for (int64_t c = 0; c < ncols; c++) {
                    const float a = xo[i * ncols + c];
#pragma omp simd
                    for (int64_t j = 0; j < OUTLIER_BLOCK; j++) sum[j] = fmaf(a, wt[c * OUTLIER_BLOCK + j], sum[j]);
                }
                float *out = y + i * ldy + n0;
                for (int64_t j = 0; j < nb; j++) out[j] += sum[j];
            }
        }
        free(wt);
    }
    free(xo);
    return failed ? TS_ERR_NOMEM : TS_OK;
}
