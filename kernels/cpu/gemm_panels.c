/* y = x W for prefill-sized x: x [m, k] (row stride ldx), an F32, BF16 or F16 W [n, k] (output-major) or [k, n]
 * (input-major), row stride ldw, y [m, n] (row stride ldy).
 * OpenBLAS packs both operands on every call, and a profile of TinyLlama's 128-token prefill put 13-23% of the time
 * in its packing of W; the activations need no packing at all when their elements are broadcast. Here each thread
 * takes NR output channels (a panel) at a time, KC inputs at a time, and packs that block of W once into
 * packed[KC][NR] (an output-major W transposed), which every row tile of x then walks: a row tile keeps MR x NR / lanes
 * accumulators in registers, each step loads NR weights as NR / lanes vectors and broadcasts one element of each of MR
 * rows of x. The lanes are output channels, so nothing is reduced across lanes. MR is 8 with AVX-512's 32 registers (24
 * accumulators), 4 with AVX2's 16 (12).
 *
 * ts_gemm_panels_bf16_rounded_f32 is the same product with x rounded to BF16 first (to nearest even, as
 * tensor.to(torch.bfloat16)), the arithmetic of PyTorch's BF16 models: W packs as pairs of consecutive inputs, one
 * 32-bit word per channel (packed[KC / 2][NR]), and x's rounded pairs are broadcast, the operands of AVX-512 BF16's
 * vdpbf16ps, which adds two exact products per lane per instruction (twice the multiply-adds of an F32 FMA). Where the
 * CPU lacks it, the same pairs go through two F32 FMAs in vdpbf16ps's order (odd input first), so the sums are the
 * same but for inputs below F32's normal range, which vdpbf16ps reads as 0. */
#include "ts_cpu.h"
#include "ts_vec.h"
#include "tessera/ts_convert.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define LANES TS_LANES
#if LANES == 16
#define MR 8
#else
#define MR 4
#endif
#define VECS 3 /* weight vectors per step */
#define NR (VECS * LANES) /* output channels per panel */
/* Inputs per packed block (48 KiB of floats): against 128, 5-8% faster on TinyLlama's layers at 128 rows (fewer passes
 * over y), the same at k = 768; 384 and 512 were no better (C harness, Zen 4). */
#define KC 256
#define KC_PAIRS 512 /* inputs per block of BF16 pairs: the same 48 KiB */
_Static_assert(KC_PAIRS / 2 == KC, "a block of BF16 pairs fills the packing buffer of an F32 block");
#define PACK_PREFETCH_ROWS 8 /* how far ahead an input-major W's rows are fetched while packing */

typedef ts_vec vec;
typedef uint32_t uvec __attribute__((vector_size(LANES * sizeof(uint32_t))));

/* The intrinsic: a lane loop or `(vec){0} + v` compiled to masked or scalar-added broadcasts. */
static inline vec splat(float v) {
#if LANES == 16
    return (vec)_mm512_set1_ps(v);
#elif LANES == 8
    return (vec)_mm256_set1_ps(v);
#else
    return (vec)_mm_set1_ps(v);
#endif
}

static inline uvec splat_u32(uint32_t v) {
#if LANES == 16
    return (uvec)_mm512_set1_epi32((int)v);
#elif LANES == 8
    return (uvec)_mm256_set1_epi32((int)v);
#else
    return (uvec)_mm_set1_epi32((int)v);
#endif
}

/* The weight: F32, or BF16 or F16 widened to F32 (exactly) as it is packed, so a half-precision model multiplies its
 * stored values by F32 activations as its F32 copy would, without one being made; or BF16 kept as pairs for the
 * rounded product. */
typedef struct {
    const void *data;
    int dtype; /* TS_F32, TS_BF16 or TS_F16 */
    int pairs;
    int64_t ld; /* row stride, in elements */
    int input_major;
} weight;

static inline float weight_at(const weight *w, int64_t i) {
    if (w->dtype == TS_F32) return ((const float *)w->data)[i];
    const uint16_t h = ((const uint16_t *)w->data)[i];
    return w->dtype == TS_BF16 ? ts_bf16_to_f32(h) : ts_f16_to_f32(h);
}

static inline const char *weight_address(const weight *w, int64_t i) {
    return (const char *)w->data + i * ts_dtype_size(w->dtype);
}

#if LANES == 16
/* Elements [i, i + 16) of the weight as floats. */
static inline __m512 weight_load16(const weight *w, int64_t i) {
    if (w->dtype == TS_F32) return _mm512_loadu_ps((const float *)w->data + i);
    const __m256i halves = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w->data + i));
    if (w->dtype == TS_F16) return _mm512_cvtph_ps(halves);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16));
}

/* rows[i] (16 inputs of channel i) into cols[c] (input c of the 16 channels): 2 x 4 x 8 in-lane unpacks, then two
 * rounds of 128-bit lane shuffles, 64 instructions for 256 floats where scalar moves took a third of the product's
 * time at 128 rows (TinyLlama prefill profile). */
static inline void transpose16(const __m512 rows[16], __m512 cols[16]) {
    __m512 s[16];
    for (int i = 0; i < 4; i++) {
        const __m512 t0 = _mm512_unpacklo_ps(rows[4 * i], rows[4 * i + 1]), t1 = _mm512_unpackhi_ps(rows[4 * i], rows[4 * i + 1]);
        const __m512 t2 = _mm512_unpacklo_ps(rows[4 * i + 2], rows[4 * i + 3]);
        const __m512 t3 = _mm512_unpackhi_ps(rows[4 * i + 2], rows[4 * i + 3]);
        /* s[4i + j], 128-bit lane L: channels 4i .. 4i + 3, input 4L + j */
        s[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        s[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        s[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
        s[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    }
    for (int j = 0; j < 4; j++) { /* a 4 x 4 transpose of 128-bit lanes */
        const __m512 a = _mm512_shuffle_f32x4(s[j], s[4 + j], 0x88), b = _mm512_shuffle_f32x4(s[j], s[4 + j], 0xdd);
        const __m512 c = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0x88), d = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0xdd);
        cols[j] = _mm512_shuffle_f32x4(a, c, 0x88);
        cols[8 + j] = _mm512_shuffle_f32x4(a, c, 0xdd);
        cols[4 + j] = _mm512_shuffle_f32x4(b, d, 0x88);
        cols[12 + j] = _mm512_shuffle_f32x4(b, d, 0xdd);
    }
}
#endif

/* `count` <= NR channels of one input of an input-major W (elements from `from` on) into to[0 .. NR), 0 past count: a
 * whole panel's run as a plain copy (or widening), which the scalar select loop made 19% of a GPT-2 prefill (perf). */
static inline void copy_channels(const weight *w, int64_t from, int count, float *to) {
    if (count == NR && w->dtype == TS_F32) {
        memcpy(to, (const float *)w->data + from, NR * sizeof(float));
    } else if (count == NR && w->dtype == TS_BF16) {
        const uint16_t *h = (const uint16_t *)w->data + from;
        for (int c = 0; c < NR; c++) to[c] = ts_bf16_to_f32(h[c]);
    } else if (count == NR) {
        const uint16_t *h = (const uint16_t *)w->data + from;
        for (int c = 0; c < NR; c++) to[c] = ts_f16_to_f32(h[c]);
    } else {
        for (int c = 0; c < NR; c++) to[c] = c < count ? weight_at(w, from + c) : 0.0f;
    }
}

/* Inputs [k0, k0 + kc) of channels [n0, n0 + count), count <= NR, as packed[kc][NR]; missing channels as 0. An
 * output-major W [n, k] is transposed, whole 16 x 16 blocks in registers (AVX-512), the rest element by element; an
 * input-major W [k, n] (GPT-2's Conv1D) already holds each input's channels side by side and is copied. */
static void pack_block(const weight *w, int64_t n0, int count, int64_t k0, int kc, float *packed) {
    if (w->input_major) {
        /* Each input's channels are a run of their own row of W: the prefetchers do not follow such strides, and
         * waiting for every row made packing 11% of a GPT-2 prefill against 59% in the tiles. */
        for (int q = 0; q < kc; q++) {
            const int64_t from = (k0 + q) * w->ld + n0;
            if (q + PACK_PREFETCH_ROWS < kc)
                for (int c = 0; c < count; c += 16) __builtin_prefetch(weight_address(w, from + PACK_PREFETCH_ROWS * w->ld + c));
            copy_channels(w, from, count, packed + q * NR);
        }
        return;
    }
#if LANES == 16
    const int full_groups = count / 16, kv = kc / 16 * 16;
    for (int g = 0; g < full_groups * 16; g += 16) {
        for (int q0 = 0; q0 < kv; q0 += 16) {
            __m512 rows[16], cols[16];
            for (int i = 0; i < 16; i++) rows[i] = weight_load16(w, (n0 + g + i) * w->ld + k0 + q0);
            transpose16(rows, cols);
            for (int c = 0; c < 16; c++) _mm512_store_ps(packed + (q0 + c) * NR + g, cols[c]);
        }
    }
#else
    const int full_groups = 0, kv = 0;
#endif
    for (int c = 0; c < NR; c++) {
        const int from = c < full_groups * 16 ? kv : 0;
        for (int q = from; q < kc; q++) packed[q * NR + c] = c < count ? weight_at(w, (n0 + c) * w->ld + k0 + q) : 0.0f;
    }
}

/* Inputs (i, i + 1) of channel c as one BF16 pair, the even input in the low half as vdpbf16ps reads it; input i + 1
 * as 0 from `end` on (an odd k's last pair). */
static inline uint32_t pair_at(const weight *w, int64_t c, int64_t i, int64_t end) {
    const uint16_t *d = w->data;
    const int64_t at = w->input_major ? i * w->ld + c : c * w->ld + i;
    const uint32_t odd = i + 1 < end ? d[w->input_major ? at + w->ld : at + 1] : 0;
    return d[at] | odd << 16;
}

/* pack_block for the rounded product: inputs [k0, k0 + kc) of channels [n0, n0 + count) as packed[(kc + 1) / 2][NR]
 * pairs. An output-major W's pairs are 32-bit words of its rows, so whole 16 x 16 blocks of them go through the same
 * register transpose as F32. */
static void pack_pairs(const weight *w, int64_t n0, int count, int64_t k0, int kc, uint32_t *packed) {
    const int pairs = (kc + 1) / 2;
    int full_groups = 0, pv = 0;
    if (w->input_major) {
        for (int q = 0; q < pairs; q++) {
            if (2 * q + PACK_PREFETCH_ROWS + 1 < kc)
                for (int c = 0; c < count; c += 32)
                    for (int r = 0; r < 2; r++) __builtin_prefetch(weight_address(w, (k0 + 2 * q + PACK_PREFETCH_ROWS + r) * w->ld + n0 + c));
            for (int c = 0; c < NR; c++) packed[q * NR + c] = c < count ? pair_at(w, n0 + c, k0 + 2 * q, k0 + kc) : 0;
        }
        return;
    }
#if LANES == 16
    full_groups = count / 16;
    pv = kc / 32 * 16;
    for (int g = 0; g < full_groups * 16; g += 16) {
        for (int p0 = 0; p0 < pv; p0 += 16) {
            __m512 rows[16], cols[16];
            for (int i = 0; i < 16; i++) rows[i] = _mm512_loadu_ps(weight_address(w, (n0 + g + i) * w->ld + k0 + 2 * p0));
            transpose16(rows, cols);
            for (int c = 0; c < 16; c++) _mm512_store_ps((float *)(packed + (p0 + c) * NR + g), cols[c]);
        }
    }
#endif
    for (int c = 0; c < NR; c++) {
        const int from = c < full_groups * 16 ? pv : 0;
        for (int q = from; q < pairs; q++) packed[q * NR + c] = c < count ? pair_at(w, n0 + c, k0 + 2 * q, k0 + kc) : 0;
    }
}

/* A partial panel's sums into its `count` channels of y. */
static void add_or_store(const float *sums, int rows, float *y, int64_t ldy, int count, int first) {
    for (int i = 0; i < rows; i++) {
        float *out = y + i * ldy;
        const float *s = sums + i * NR;
        if (first) {
            memcpy(out, s, (size_t)count * sizeof(float));
        } else {
            for (int c = 0; c < count; c++) out[c] += s[c];
        }
    }
}

/* A row tile's sums acc[R][VECS] into y, or added to it unless `first`; a partial panel's through a buffer, to touch
 * only its `count` channels. */
static inline __attribute__((always_inline)) void finish(int R, vec acc[][VECS], float *y, int64_t ldy, int count, int first) {
    float sums[MR][NR];
    for (int i = 0; i < R; i++) {
        for (int j = 0; j < VECS; j++) {
            float *out = y + i * ldy + j * LANES;
            if (count == NR) store(out, first ? acc[i][j] : load(out) + acc[i][j]);
            else store(sums[i] + j * LANES, acc[i][j]);
        }
    }
    if (count != NR) add_or_store(&sums[0][0], R, y, ldy, count, first);
}

/* One input q of a row tile: acc[R][VECS] += x[0 .. R)[q] * wv, the NR weights of input q. */
static inline __attribute__((always_inline)) void tile_fma(int R, vec acc[][VECS], const float *x, int64_t ldx, int q,
                                                             const vec wv[VECS]) {
    _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {
        const vec xb = splat(x[i * ldx + q]);
        _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) acc[i][j] += xb * wv[j];
    }
}

/* tile_fma with input q's weights from packed[q][0 .. NR). */
static inline __attribute__((always_inline)) void tile_step(int R, vec acc[][VECS], const float *x, int64_t ldx,
                                                              const float *packed, int q) {
    vec wv[VECS];
    _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) wv[j] = load(packed + q * NR + j * LANES);
    tile_fma(R, acc, x, ldx, q, wv);
}

/* y[0 .. R)[0 .. count) (+)= x[0 .. R)[0 .. kc) packed^T, added to y unless `first`. Each block's sums start from 0 and
 * are added to y at the end (k summed in blocks of KC is more accurate than one long chain: 9e-6 against 8e-5 at k =
 * 5632). */
#define PANEL_TILE(R, NAME)                                                                                         \
    static void tile_##NAME(const void *xs, int64_t ldx, const void *packs, int kc, float *y, int64_t ldy, int count,   \
                            int first) {                                                                            \
        vec acc[R][VECS];                                                                                           \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                       \
            _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) {                                                \
                acc[i][j] = (vec){0};                                                                               \
            }                                                                                                       \
        }                                                                                                           \
        for (int q = 0; q < kc; q++) tile_step(R, acc, xs, ldx, packs, q);                                          \
        finish(R, acc, y, ldy, count, first);                                                                       \
    }

/* acc + the products of a pair of BF16 inputs, odd input first, each sum rounded once: vdpbf16ps's arithmetic on F32
 * FMAs (a BF16 value widened is exact, and so is the product of two). */
static inline vec dot_pairs_fma(vec acc, uvec w, uvec x) {
    const uvec high = splat_u32(0xffff0000u);
    acc += (vec)(w & high) * (vec)(x & high);
    return acc + (vec)(w << 16) * (vec)(x << 16);
}

/* The same tile for the rounded product: x holds BF16 pairs (row stride ldx, in BF16 elements), packed holds W's
 * pairs, kc counts inputs; `DOT` adds one pair per lane. */
#define PAIR_TILE(R, NAME, TARGET, DOT)                                                                             \
    TARGET static void pair_tile_##NAME(const void *xs, int64_t ldx, const void *packs, int kc, float *y, int64_t ldy,  \
                                        int count, int first) {                                                     \
        const uint16_t *x = xs;                                                                                     \
        const uint32_t *packed = packs;                                                                             \
        vec acc[R][VECS];                                                                                           \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                       \
            _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) {                                                \
                acc[i][j] = (vec){0};                                                                               \
            }                                                                                                       \
        }                                                                                                           \
        for (int q = 0; q < (kc + 1) / 2; q++) {                                                                    \
            uvec wv[VECS];                                                                                          \
            _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) memcpy(&wv[j], packed + q * NR + j * LANES, sizeof wv[j]); \
            _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                   \
                uint32_t word;                                                                                      \
                memcpy(&word, x + i * ldx + 2 * q, sizeof word);                                                    \
                const uvec xb = splat_u32(word);                                                                    \
                _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) acc[i][j] = DOT(acc[i][j], wv[j], xb);        \
            }                                                                                                       \
        }                                                                                                           \
        finish(R, acc, y, ldy, count, first);                                                                       \
    }

/* A row tile of each height (MR, then 4 where MR is 8, 2 and 1) over one packed block. */
typedef void (*tile_fn)(const void *x, int64_t ldx, const void *packed, int kc, float *y, int64_t ldy, int count, int first);
typedef struct {
    tile_fn full, four, two, one;
    int x_size; /* bytes per element of x */
} row_tiles;

#define ROW_TILES(PREFIX, R4, X_SIZE) {PREFIX##full, R4, PREFIX##2, PREFIX##1, X_SIZE}

PANEL_TILE(MR, full)
#if MR == 8
PANEL_TILE(4, 4)
#endif
PANEL_TILE(2, 2)
PANEL_TILE(1, 1)

#define NO_TARGET
PAIR_TILE(MR, fma_full, NO_TARGET, dot_pairs_fma)
#if MR == 8
PAIR_TILE(4, fma_4, NO_TARGET, dot_pairs_fma)
#endif
PAIR_TILE(2, fma_2, NO_TARGET, dot_pairs_fma)
PAIR_TILE(1, fma_1, NO_TARGET, dot_pairs_fma)

#if MR == 8
static const row_tiles f32_tiles = ROW_TILES(tile_, tile_4, sizeof(float));
static const row_tiles pair_fma_tiles = ROW_TILES(pair_tile_fma_, pair_tile_fma_4, sizeof(uint16_t));
#else
static const row_tiles f32_tiles = ROW_TILES(tile_, NULL, sizeof(float));
static const row_tiles pair_fma_tiles = ROW_TILES(pair_tile_fma_, NULL, sizeof(uint16_t));
#endif

#if LANES == 16
#define BF16_TARGET __attribute__((target("avx512bf16")))
BF16_TARGET static inline vec dot_pairs_bf16(vec acc, uvec w, uvec x) {
    return (vec)_mm512_dpbf16_ps((__m512)acc, (__m512bh)w, (__m512bh)x);
}
PAIR_TILE(MR, bf16_full, BF16_TARGET, dot_pairs_bf16)
PAIR_TILE(4, bf16_4, BF16_TARGET, dot_pairs_bf16)
PAIR_TILE(2, bf16_2, BF16_TARGET, dot_pairs_bf16)
PAIR_TILE(1, bf16_1, BF16_TARGET, dot_pairs_bf16)
static const row_tiles pair_bf16_tiles = ROW_TILES(pair_tile_bf16_, pair_tile_bf16_4, sizeof(uint16_t));
#endif

/* The pair tiles for this CPU: vdpbf16ps where it has AVX-512 BF16. */
static const row_tiles *pair_tiles(void) {
#if LANES == 16
    if (__builtin_cpu_supports("avx512bf16")) return &pair_bf16_tiles;
#endif
    return &pair_fma_tiles;
}

int TS_FN(ts_bf16_dot_enabled)(int *on) {
    *on = pair_tiles() != &pair_fma_tiles;
    return TS_OK;
}

/* Where a block of W lies: `runs` runs of `bytes` bytes, `stride` bytes apart (an input-major W: one run per input; an
 * output-major one: one per channel). */
typedef struct {
    const char *start;
    int64_t stride;
    int runs, bytes;
} w_block;

static w_block block_of(const weight *w, int64_t n0, int count, int64_t k0, int kc) {
    const int size = ts_dtype_size(w->dtype);
    return w->input_major ? (w_block){weight_address(w, k0 * w->ld + n0), w->ld * size, kc, count * size}
                          : (w_block){weight_address(w, n0 * w->ld + k0), w->ld * size, count, kc * size};
}

/* Runs [runs * part / parts, runs * (part + 1) / parts) of a block into the caches. */
static void prefetch_part(const w_block *b, int64_t part, int64_t parts) {
    for (int64_t r = b->runs * part / parts; r < b->runs * (part + 1) / parts; r++)
        for (int c = 0; c < b->bytes; c += 64) __builtin_prefetch(b->start + r * b->stride + c, 0, 2);
}

#if LANES == 16
/* The first full row tile of a block of an input-major W, which packs the block as it goes: each step loads its NR
 * weights from W itself and, when other tiles follow (`keep`), stores them to `packed` for them, so that its FMAs hide
 * the copy (pack_block alone, before the tiles, was 5% of a GPT-2 prefill; this made GPT-2's four products at 128 rows
 * 2-3% faster, C harness). Its share of the next block (`share` of `shares`) is fetched a run per step rather than all
 * before it: with 8 rows, the only tile, fetching the whole next block up front left the core waiting on memory and
 * then computing with it idle. Whole panels only (count NR). An output-major W stays with pack_block: its transposes,
 * done 16 inputs ahead inside this tile, made TinyLlama's products 2% slower. */
static void tile_packing(const float *x, int64_t ldx, const weight *w, int64_t n0, int64_t k0, int kc, float *packed,
                         int keep, float *y, int64_t ldy, int first, const w_block *next, int64_t shares) {
    vec acc[MR][VECS];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < VECS; j++) acc[i][j] = (vec){0};
    for (int q = 0; q < kc; q++) {
        if (next) prefetch_part(next, q, kc * shares);
        const int64_t from = (k0 + q) * w->ld + n0;
        vec wv[VECS];
        for (int j = 0; j < VECS; j++) {
            wv[j] = (vec)weight_load16(w, from + j * 16);
            if (keep) _mm512_store_ps(packed + q * NR + j * 16, (__m512)wv[j]);
        }
        tile_fma(MR, acc, x, ldx, q, wv);
    }
    finish(MR, acc, y, ldy, NR, first);
}
#endif

/* A block's W to be packed by the first row tile (tile_packing), where it can: F32 tiles, a whole panel, AVX-512. */
typedef struct {
    const weight *w;
    int64_t n0, k0;
} packing_job;

static int can_pack_in_tile(const row_tiles *t, const weight *w, int64_t m, int count) {
#if LANES == 16
    return t == &f32_tiles && !w->pairs && w->input_major && m >= MR && count == NR;
#else
    (void)t, (void)w, (void)m, (void)count;
    return 0;
#endif
}

/* Every row of x (elements of t->x_size bytes) against one packed block; meanwhile, a share of the next block per row
 * tile is fetched, so that packing it does not wait for memory (W is read from memory once per call, and its packing
 * took 10% of a GPT-2 prefill against 58% in the tiles when it waited). */
static void block_rows(const row_tiles *t, int64_t m, const void *x, int64_t ldx, void *packed, int kc, float *y,
                       int64_t ldy, int count, int first, const w_block *next, const packing_job *job) {
    const int64_t tiles = m / MR + (m % MR != 0);
    const char *rows = x;
    const int64_t row_bytes = ldx * t->x_size;
    int64_t r0 = 0;
    for (int64_t i = 0; r0 + MR <= m; r0 += MR, i++) {
#if LANES == 16
        if (job && r0 == 0) {
            tile_packing(x, ldx, job->w, job->n0, job->k0, kc, packed, m > MR, y, ldy, first, next, tiles);
            continue;
        }
#else
        (void)job; /* can_pack_in_tile never gives one */
#endif
        if (next) prefetch_part(next, i, tiles);
        t->full(rows + r0 * row_bytes, ldx, packed, kc, y + r0 * ldy, ldy, count, first);
    }
    if (next && r0 < m) prefetch_part(next, tiles - 1, tiles);
#if MR == 8
    if (m - r0 >= 4) t->four(rows + r0 * row_bytes, ldx, packed, kc, y + r0 * ldy, ldy, count, first), r0 += 4;
#endif
    if (m - r0 >= 2) t->two(rows + r0 * row_bytes, ldx, packed, kc, y + r0 * ldy, ldy, count, first), r0 += 2;
    if (m - r0 >= 1) t->one(rows + r0 * row_bytes, ldx, packed, kc, y + r0 * ldy, ldy, count, first);
}

/* How many of `total` elements a block of up to `size` starting at `start` holds. */
static int block_length(int64_t total, int64_t start, int size) {
    return total - start < size ? (int)(total - start) : size;
}

/* y = x W with x's rows (t->x_size bytes per element) multiplied by `t`'s tiles against W packed by pack_block, or
 * pack_pairs when w->pairs, KC (KC_PAIRS) inputs at a time. */
static int panels(const row_tiles *t, int64_t m, int64_t n, int64_t k, const void *x, int64_t ldx, const weight *w, float *y,
                  int64_t ldy) {
    const int64_t panels = (n + NR - 1) / NR;
    const int block = w->pairs ? KC_PAIRS : KC;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if (panels > 1 && m * n * k >= (1 << 22))
    {
        void *packed = aligned_alloc(64, KC * NR * sizeof(float));
        if (!packed) failed = 1;
#pragma omp for schedule(static)
        for (int64_t p = 0; p < panels; p++) {
            if (!packed) continue;
            const int count = block_length(n, p * NR, NR);
            if (k == 0)
                for (int64_t i = 0; i < m; i++) memset(y + i * ldy + p * NR, 0, (size_t)count * sizeof(float));
            for (int64_t k0 = 0; k0 < k; k0 += block) {
                const int kc = block_length(k, k0, block);
                const packing_job job = {w, p * NR, k0};
                const int in_tile = can_pack_in_tile(t, w, m, count);
                if (w->pairs) pack_pairs(w, p * NR, count, k0, kc, packed);
                else if (!in_tile) pack_block(w, p * NR, count, k0, kc, packed);
                /* the next block of this panel, else the first of the next panel (this thread's next, under the
                 * static schedule, unless this is its last) */
                w_block next;
                const int has_next = k0 + block < k || p + 1 < panels;
                if (k0 + block < k) {
                    next = block_of(w, p * NR, count, k0 + block, block_length(k, k0 + block, block));
                } else if (p + 1 < panels) {
                    next = block_of(w, (p + 1) * NR, block_length(n, (p + 1) * NR, NR), 0, block_length(k, 0, block));
                }
                block_rows(t, m, (const char *)x + k0 * t->x_size, ldx, packed, kc, y + p * NR, ldy, count, k0 == 0,
                           has_next ? &next : NULL, in_tile ? &job : NULL);
            }
        }
        free(packed);
    }
    return failed ? TS_ERR_NOMEM : TS_OK;
}

/* Rows of x [m, k] rounded to BF16 (to nearest even; NaN stays NaN) into xr [m, kp], kp = k rounded up to even, the odd
 * k's last pair completed with 0. */
static void round_rows(int64_t m, int64_t k, const float *x, int64_t ldx, uint16_t *xr, int64_t kp) {
    for (int64_t i = 0; i < m; i++) {
        const float *from = x + i * ldx;
        uint16_t *to = xr + i * kp;
#pragma omp simd
        for (int64_t j = 0; j < k; j++) to[j] = ts_f32_to_bf16(from[j]);
        if (k < kp) to[k] = 0;
    }
}

int TS_FN(ts_gemm_panels_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw,
                              int input_major, float *y, int64_t ldy) {
    return panels(&f32_tiles, m, n, k, x, ldx, &(weight){w, TS_F32, 0, ldw, input_major}, y, ldy);
}

int TS_FN(ts_gemm_panels_bf16_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w,
                                   int64_t ldw, int input_major, float *y, int64_t ldy) {
    return panels(&f32_tiles, m, n, k, x, ldx, &(weight){w, TS_BF16, 0, ldw, input_major}, y, ldy);
}

int TS_FN(ts_gemm_panels_f16_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w,
                                  int64_t ldw, int input_major, float *y, int64_t ldy) {
    return panels(&f32_tiles, m, n, k, x, ldx, &(weight){w, TS_F16, 0, ldw, input_major}, y, ldy);
}

int TS_FN(ts_gemm_panels_bf16_rounded_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w,
                                           int64_t ldw, int input_major, float *y, int64_t ldy) {
    const int64_t kp = k + (k & 1);
    uint16_t *xr = malloc((size_t)(m * kp + 1) * sizeof(uint16_t));
    if (!xr) return TS_ERR_NOMEM;
    round_rows(m, k, x, ldx, xr, kp);
    const int status = panels(pair_tiles(), m, n, k, xr, kp, &(weight){w, TS_BF16, 1, ldw, input_major}, y, ldy);
    free(xr);
    return status;
}
