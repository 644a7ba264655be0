/* The float vector of a tier's widest registers (TS_LANES floats), its unaligned load and store, and the lane sum
 * that gemv.c and gemm_small.c share: both accumulate a row's product lane by lane in the same order and add the
 * lanes up in order, so a row's result has the same bits whichever of them its batch size picks (CachedForwardTest
 * relies on it; a tree of halves, 1.1x faster at four rows with W in cache, broke it). */
#ifndef TESSERA_TS_VEC_H
#define TESSERA_TS_VEC_H

#include <string.h>

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

static inline float lane_sum(ts_vec v) {
    float s = 0.0f;
    for (int l = 0; l < TS_LANES; l++) s += v[l];
    return s;
}

#endif
