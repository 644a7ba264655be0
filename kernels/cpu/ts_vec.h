/* The float vector of a tier's widest registers (TS_LANES floats), its unaligned load and store, and the lane sums
 * that gemv.c and gemm_small.c share: both accumulate a row's product lane by lane in the same order and add the
 * lanes up by the same tree, so a row's result has the same bits whichever of them its batch size picks
 * (CachedForwardTest relies on it). A tile's sums are added up together (lane_sums_into): one lane at a time took
 * 15 dependent adds per sum, and GPT-2's products at 8 rows spent 1.14x longer (bench/gemv-step/run, 0.49 GB step
 * 15.2-15.5 against 17.4-18.7 ms, alternated, Zen 5). */
#ifndef TESSERA_TS_VEC_H
#define TESSERA_TS_VEC_H

#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "tessera/ts_convert.h"

#if defined(__AVX512F__)
#define TS_LANES 16
#elif defined(__AVX2__)
#define TS_LANES 8
#else
#define TS_LANES 4
#endif

typedef float ts_vec __attribute__((vector_size(TS_LANES * sizeof(float))));

static inline ts_vec load(const float *p) {
    ts_vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store(float *p, ts_vec v) { memcpy(p, &v, sizeof v); }

typedef uint16_t ts_vec_u16 __attribute__((vector_size(TS_LANES * sizeof(uint16_t))));
typedef uint32_t ts_vec_u32 __attribute__((vector_size(TS_LANES * sizeof(uint32_t))));

/* TS_LANES elements from element i of w as f32: `type` is the dtype code (ts_ops.h) TS_F32, TS_BF16 or TS_F16, a
 * constant in each caller's specialisation, so the branches fold away. Half precision is widened on the fly: a bf16's 16
 * bits are the high half of an f32; f16 by vcvtph2ps where the tier has F16C. */
static inline ts_vec load_widened(const void *w, int64_t i, int type) {
    if (type == TS_F32) return load((const float *)w + i);
    if (type == TS_F16) {
#if defined(__AVX512F__) /* one vcvtph2ps (F16C): GCC's vector conversion splits it into four 128-bit ones */
        return (ts_vec)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i)));
#elif defined(__AVX2__)
        return (ts_vec)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
#else
        ts_vec v;
        for (int l = 0; l < TS_LANES; l++) v[l] = ts_f16_to_f32(((const uint16_t *)w)[i + l]);
        return v;
#endif
    }
    ts_vec_u16 h;
    memcpy(&h, (const uint16_t *)w + i, sizeof h);
    const ts_vec_u32 wide = __builtin_convertvector(h, ts_vec_u32) << 16;
    ts_vec v;
    memcpy(&v, &wide, sizeof v);
    return v;
}

/* Element i of w as f32 (load_widened's `type`). */
static inline float scalar_widened(const void *w, int64_t i, int type) {
    if (type == TS_F32) return ((const float *)w)[i];
    const uint16_t h = ((const uint16_t *)w)[i];
    return type == TS_F16 ? ts_f16_to_f32(h) : ts_bf16_to_f32(h);
}

/* The lanes of `a` then `b` paired off: lanes [0, TS_LANES / 2) hold a's lanes 2j + 2j+1, the rest b's. Applied
 * log2(TS_LANES) times, it adds each vector's lanes up as a tree of adjacent pairs. */
#if TS_LANES == 16
#define TS_EVENS 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define TS_ODDS 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#elif TS_LANES == 8
#define TS_EVENS 0, 2, 4, 6, 8, 10, 12, 14
#define TS_ODDS 1, 3, 5, 7, 9, 11, 13, 15
#else
#define TS_EVENS 0, 2, 4, 6
#define TS_ODDS 1, 3, 5, 7
#endif
static inline ts_vec pair_sums(ts_vec a, ts_vec b) {
    return __builtin_shufflevector(a, b, TS_EVENS) + __builtin_shufflevector(a, b, TS_ODDS);
}

/* lane_sums's lane j for one vector: the same tree, so a sum has the same bits whether it was reduced alone or with
 * others. */
static inline float lane_sum(ts_vec v) {
    for (int width = TS_LANES; width > 1; width /= 2) v = pair_sums(v, v);
    return v[0];
}

/* Lane j: the sum of v[j]'s lanes (adjacent pairs, then pairs of those): TS_LANES row sums in 2 * (TS_LANES - 1)
 * shuffles and TS_LANES - 1 adds, where one at a time takes TS_LANES - 1 dependent adds each. */
static inline ts_vec lane_sums(const ts_vec v[TS_LANES]) {
    ts_vec level[TS_LANES];
    for (int j = 0; j < TS_LANES; j++) level[j] = v[j];
    for (int count = TS_LANES; count > 1; count /= 2)
        for (int j = 0; j < count / 2; j++) level[j] = pair_sums(level[2 * j], level[2 * j + 1]);
    return level[0];
}

/* out[j] = lane_sum(v[j]) for `count` vectors, TS_LANES at a time (the last group padded with zeros). */
static inline __attribute__((always_inline)) void lane_sums_into(const ts_vec *v, int count, float *out) {
    for (int g = 0; g < count; g += TS_LANES) {
        ts_vec group[TS_LANES];
        for (int j = 0; j < TS_LANES; j++) group[j] = g + j < count ? v[g + j] : (ts_vec){0};
        const ts_vec sums = lane_sums(group);
        for (int j = 0; j < TS_LANES && g + j < count; j++) out[g + j] = sums[j];
    }
}

#endif
