/* y = x W for prefill-sized x: x [m, k] (row stride ldx), an F32 or BF16 W [n, k] (output-major) or [k, n]
 * (input-major), row stride ldw, y [m, n] (row stride ldy).
 * OpenBLAS packs both operands on every call, and a profile of TinyLlama's 128-token prefill put 13-23% of the time
 * in its packing of W; the activations need no packing at all when their elements are broadcast. Here each thread
 * takes NR output channels (a panel) at a time, KC inputs at a time, and packs that block of W once into
 * packed[KC][NR] (an output-major W transposed), which every row tile of x then walks: a row tile keeps MR x NR / lanes
 * accumulators in registers, each step loads NR weights as NR / lanes vectors and broadcasts one element of each of MR
 * rows of x. The lanes are output channels, so nothing is reduced across lanes. MR is 8 with AVX-512's 32 registers (24
 * accumulators), 4 with AVX2's 16 (12). */
#include "ts_cpu.h"
#include "tessera/ts_convert.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#define LANES 16
#define MR 8
#elif defined(__AVX2__)
#define LANES 8
#define MR 4
#else
#define LANES 4
#define MR 4
#endif
#define VECS 3 /* weight vectors per step */
#define NR (VECS * LANES) /* output channels per panel */
/* Inputs per packed block (48 KiB of floats): against 128, 5-8% faster on TinyLlama's layers at 128 rows (fewer passes
 * over y), the same at k = 768; 384 and 512 were no better (C harness, Zen 4). */
#define KC 256
#define PACK_PREFETCH_ROWS 8 /* how far ahead an input-major W's rows are fetched while packing */

typedef float vec __attribute__((vector_size(LANES * sizeof(float))));

static inline vec load(const float *p) {
    vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store(float *p, vec v) { memcpy(p, &v, sizeof v); }

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

/* The weight: F32, or BF16 widened to F32 (exactly) as it is packed, so a BF16 model multiplies its stored values by
 * F32 activations as its F32 copy would, without one being made. */
typedef struct {
    const void *data;
    int bf16;
    int64_t ld; /* row stride, in elements */
    int input_major;
} weight;

static inline float weight_at(const weight *w, int64_t i) {
    return w->bf16 ? ts_bf16_to_f32(((const uint16_t *)w->data)[i]) : ((const float *)w->data)[i];
}

static inline const char *weight_address(const weight *w, int64_t i) {
    return (const char *)w->data + i * (w->bf16 ? 2 : 4);
}

#if LANES == 16
/* Elements [i, i + 16) of the weight as floats. */
static inline __m512 weight_load16(const weight *w, int64_t i) {
    if (!w->bf16) return _mm512_loadu_ps((const float *)w->data + i);
    const __m256i halves = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w->data + i));
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
            float *to = packed + q * NR;
            for (int c = 0; c < NR; c++) to[c] = c < count ? weight_at(w, from + c) : 0.0f;
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

/* y[0 .. R)[0 .. count) (+)= x[0 .. R)[0 .. kc) packed^T, added to y unless `first`. Each block's sums start from 0 and
 * are added to y at the end (k summed in blocks of KC is more accurate than one long chain: 9e-6 against 8e-5 at k =
 * 5632); a partial panel's pass through a buffer, to touch only its `count` channels. */
#define PANEL_TILE(R, NAME)                                                                                         \
    static void tile_##NAME(const float *x, int64_t ldx, const float *packed, int kc, float *y, int64_t ldy, int count,  \
                            int first) {                                                                            \
        const int full = count == NR;                                                                               \
        vec acc[R][VECS];                                                                                           \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                       \
            _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) {                                                \
                acc[i][j] = (vec){0};                                                                               \
            }                                                                                                       \
        }                                                                                                           \
        for (int q = 0; q < kc; q++) {                                                                              \
            vec wv[VECS];                                                                                           \
            _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) wv[j] = load(packed + q * NR + j * LANES);       \
            _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                   \
                const vec xb = splat(x[i * ldx + q]);                                                               \
                _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) acc[i][j] += xb * wv[j];                     \
            }                                                                                                       \
        }                                                                                                           \
        float sums[R][NR];                                                                                          \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                                       \
            _Pragma("GCC unroll 3") for (int j = 0; j < VECS; j++) {                                                \
                float *out = y + i * ldy + j * LANES;                                                               \
                if (full) store(out, first ? acc[i][j] : load(out) + acc[i][j]);                                    \
                else store(sums[i] + j * LANES, acc[i][j]);                                                         \
            }                                                                                                       \
        }                                                                                                           \
        if (!full) add_or_store(&sums[0][0], R, y, ldy, count, first);                                              \
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

PANEL_TILE(MR, full)
#if MR == 8
PANEL_TILE(4, 4)
#endif
PANEL_TILE(2, 2)
PANEL_TILE(1, 1)

/* Where a block of W lies: `runs` runs of `bytes` bytes, `stride` bytes apart (an input-major W: one run per input; an
 * output-major one: one per channel). */
typedef struct {
    const char *start;
    int64_t stride;
    int runs, bytes;
} w_block;

static w_block block_of(const weight *w, int64_t n0, int count, int64_t k0, int kc) {
    const int size = w->bf16 ? 2 : 4;
    return w->input_major ? (w_block){weight_address(w, k0 * w->ld + n0), w->ld * size, kc, count * size}
                          : (w_block){weight_address(w, n0 * w->ld + k0), w->ld * size, count, kc * size};
}

/* Runs [runs * part / parts, runs * (part + 1) / parts) of a block into the caches. */
static void prefetch_part(const w_block *b, int64_t part, int64_t parts) {
    for (int64_t r = b->runs * part / parts; r < b->runs * (part + 1) / parts; r++)
        for (int c = 0; c < b->bytes; c += 64) __builtin_prefetch(b->start + r * b->stride + c, 0, 2);
}

/* Every row of x against one packed block; meanwhile, a share of the next block per row tile is fetched, so that
 * packing it does not wait for memory (W is read from memory once per call, and its packing took 10% of a GPT-2
 * prefill against 58% in the tiles when it waited). */
static void block_rows(int64_t m, const float *x, int64_t ldx, const float *packed, int kc, float *y, int64_t ldy,
                       int count, int first, const w_block *next) {
    const int64_t tiles = m / MR + (m % MR != 0);
    int64_t r0 = 0;
    for (int64_t t = 0; r0 + MR <= m; r0 += MR, t++) {
        if (next) prefetch_part(next, t, tiles);
        tile_full(x + r0 * ldx, ldx, packed, kc, y + r0 * ldy, ldy, count, first);
    }
    if (next && r0 < m) prefetch_part(next, tiles - 1, tiles);
#if MR == 8
    if (m - r0 >= 4) tile_4(x + r0 * ldx, ldx, packed, kc, y + r0 * ldy, ldy, count, first), r0 += 4;
#endif
    if (m - r0 >= 2) tile_2(x + r0 * ldx, ldx, packed, kc, y + r0 * ldy, ldy, count, first), r0 += 2;
    if (m - r0 >= 1) tile_1(x + r0 * ldx, ldx, packed, kc, y + r0 * ldy, ldy, count, first);
}

/* How many of `total` elements a block of up to `size` starting at `start` holds. */
static int block_length(int64_t total, int64_t start, int size) {
    return total - start < size ? (int)(total - start) : size;
}

static int panels(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const weight *w, float *y, int64_t ldy) {
    const int64_t panels = (n + NR - 1) / NR;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if (panels > 1 && m * n * k >= (1 << 22))
    {
        float *packed = aligned_alloc(64, KC * NR * sizeof(float));
        if (!packed) failed = 1;
#pragma omp for schedule(static)
        for (int64_t p = 0; p < panels; p++) {
            if (!packed) continue;
            const int count = block_length(n, p * NR, NR);
            if (k == 0)
                for (int64_t i = 0; i < m; i++) memset(y + i * ldy + p * NR, 0, (size_t)count * sizeof(float));
            for (int64_t k0 = 0; k0 < k; k0 += KC) {
                const int kc = block_length(k, k0, KC);
                pack_block(w, p * NR, count, k0, kc, packed);
                /* the next block of this panel, else the first of the next panel (this thread's next, under the
                 * static schedule, unless this is its last) */
                w_block next;
                const int has_next = k0 + KC < k || p + 1 < panels;
                if (k0 + KC < k) {
                    next = block_of(w, p * NR, count, k0 + KC, block_length(k, k0 + KC, KC));
                } else if (p + 1 < panels) {
                    next = block_of(w, (p + 1) * NR, block_length(n, (p + 1) * NR, NR), 0, block_length(k, 0, KC));
                }
                block_rows(m, x + k0, ldx, packed, kc, y + p * NR, ldy, count, k0 == 0, has_next ? &next : NULL);
            }
        }
        free(packed);
    }
    return failed ? TS_ERR_NOMEM : TS_OK;
}

int TS_FN(ts_gemm_panels_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw,
                              int input_major, float *y, int64_t ldy) {
    return panels(m, n, k, x, ldx, &(weight){w, 0, ldw, input_major}, y, ldy);
}

int TS_FN(ts_gemm_panels_bf16_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w,
                                   int64_t ldw, int input_major, float *y, int64_t ldy) {
    return panels(m, n, k, x, ldx, &(weight){w, 1, ldw, input_major}, y, ldy);
}
