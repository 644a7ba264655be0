/* Optimizer steps restricted to a fixed sparse mask, in two forms of the same per-element update
 * (tessera/ts_optim_math.h, shared with optim.c and the CUDA kernels, so every form agrees bit for bit
 * with the dense step on the entries it updates):
 *
 *  - indexed: walks the k listed entries idx[0..k) of p (int32 when idx_bytes == 4, int64 when 8;
 *    sorted, unique and in range: Java validated them). The optimizer state (m and v, or buf) is
 *    compact: slot j belongs to entry idx[j]; so is g when g_compact != 0 (a gradient computed for the
 *    masked entries only), else g is full-size and read at idx[j]. Cost O(k), whatever the tensor size.
 *  - masked: one dense pass over all n entries with a 0/1 u8 mask and full-size state. An entry whose
 *    mask byte is 0 keeps the bits of p and of its state: the kernel selects, it does not multiply by
 *    the mask (0 * an infinite update would be NaN).
 *
 * p, g, the state and the index list or mask must not overlap. */
#include "tessera/ts_index.h"
#include "tessera/ts_optim_math.h"
#include "ts_cpu.h"

#include <string.h>

/* An indexed entry costs a cache miss or two (~100 ns), not the ~1 ns of a streamed one, so splitting
 * the list over threads pays off at far fewer entries than TS_PARALLEL_MIN. */
#define TS_INDEXED_PARALLEL_MIN 4096
/* Scattered entries are latency-bound: the hardware prefetchers cannot predict them, and a core keeps only
 * a couple of dozen L1 misses in flight. So each entry's lines are requested twice ahead of use: far ahead
 * towards L2 (prefetcht1) and shortly before use into L1; the far requests keep more misses in flight
 * than L1 prefetches alone manage.
 * Measured on 500k of 100M floats (2 cores, huge pages, full-size g): 4.8-5.3 ms with one block-ahead
 * L1 prefetch, 1.8-2.4 ms with the two distances below (64-256 / 12-32 all within noise). */
#define TS_PREFETCH_L2_AHEAD 128
#define TS_PREFETCH_L1_AHEAD 16

/* on ? a : b as bit operations. Written as a branch-free blend so the compiler cannot move the update under the
 * condition: it would then have to speculate sqrt and division, which it refuses below AVX-512 (no masked ops). */
static inline float select_f32(uint8_t on, float a, float b) {
    uint32_t ua;
    uint32_t ub;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    const uint32_t keep = 0u - (uint32_t)(on != 0);
    const uint32_t r = (ua & keep) | (ub & ~keep);
    float out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* Requests the lines of p and g that list entry j will need: j + TS_PREFETCH_L2_AHEAD into L2, j +
 * TS_PREFETCH_L1_AHEAD into L1 (p for writing; a compact g is read in order and needs no help).
 * Always inlined: GCC 12's mod-ref analysis sees a void function that stores nothing and deletes its
 * calls, prefetches and all. */
static inline __attribute__((always_inline)) void prefetch_ahead(const void *idx, int idx_bytes, int64_t j, int64_t k,
                                                                 const float *p, const float *g, int g_compact) {
    if (j + TS_PREFETCH_L2_AHEAD < k) {
        const int64_t i = ts_index_at(idx, idx_bytes, j + TS_PREFETCH_L2_AHEAD);
        __builtin_prefetch(p + i, 0, 2);
        if (!g_compact) {
            __builtin_prefetch(g + i, 0, 2);
        }
    }
    if (j + TS_PREFETCH_L1_AHEAD < k) {
        const int64_t i = ts_index_at(idx, idx_bytes, j + TS_PREFETCH_L1_AHEAD);
        __builtin_prefetch(p + i, 1, 3);
        if (!g_compact) {
            __builtin_prefetch(g + i, 0, 3);
        }
    }
}

int TS_FN(ts_adamw_indexed_f32)(int64_t k, const void *idx, int idx_bytes, float *restrict p, const float *restrict g,
                                int g_compact, float *restrict m, float *restrict v, float lr, float beta1, float beta2,
                                float eps, float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
#pragma omp parallel for schedule(static) if (k >= TS_INDEXED_PARALLEL_MIN)
    for (int64_t j = 0; j < k; j++) {
        prefetch_ahead(idx, idx_bytes, j, k, p, g, g_compact);
        const int64_t i = ts_index_at(idx, idx_bytes, j);
        p[i] = ts_adamw_elem(c, p[i], g[g_compact ? j : i], &m[j], &v[j]);
    }
    return TS_OK;
}

int TS_FN(ts_adamw_masked_f32)(int64_t n, const uint8_t *restrict mask, float *restrict p, const float *restrict g,
                               float *restrict m, float *restrict v, float lr, float beta1, float beta2, float eps,
                               float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float p0 = p[i];
        const float m0 = m[i];
        const float v0 = v[i];
        float mi = m0;
        float vi = v0;
        const float pi = ts_adamw_elem(c, p0, g[i], &mi, &vi);
        p[i] = select_f32(mask[i], pi, p0);
        m[i] = select_f32(mask[i], mi, m0);
        v[i] = select_f32(mask[i], vi, v0);
    }
    return TS_OK;
}

/* buf may be NULL when momentum == 0; first_step != 0 initialises buf to the update direction. */
int TS_FN(ts_sgd_indexed_f32)(int64_t k, const void *idx, int idx_bytes, float *restrict p, const float *restrict g,
                              int g_compact, float *restrict buf, float lr, float momentum, float dampening,
                              float weight_decay, int nesterov, int first_step) {
#pragma omp parallel for schedule(static) if (k >= TS_INDEXED_PARALLEL_MIN)
    for (int64_t j = 0; j < k; j++) {
        prefetch_ahead(idx, idx_bytes, j, k, p, g, g_compact);
        const int64_t i = ts_index_at(idx, idx_bytes, j);
        const float gi = g[g_compact ? j : i];
        p[i] = momentum == 0.0f ? ts_sgd_elem(p[i], gi, lr, weight_decay)
                                : ts_sgd_momentum_elem(p[i], gi, &buf[j], lr, momentum, dampening, weight_decay,
                                                       nesterov, first_step);
    }
    return TS_OK;
}

int TS_FN(ts_sgd_masked_f32)(int64_t n, const uint8_t *restrict mask, float *restrict p, const float *restrict g,
                             float *restrict buf, float lr, float momentum, float dampening, float weight_decay,
                             int nesterov, int first_step) {
    if (momentum == 0.0f) {
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) {
            const float p0 = p[i];
            const float pi = ts_sgd_elem(p0, g[i], lr, weight_decay);
            p[i] = select_f32(mask[i], pi, p0);
        }
    } else {
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) {
            const float p0 = p[i];
            const float b0 = buf[i];
            float bi = b0;
            const float pi = ts_sgd_momentum_elem(p0, g[i], &bi, lr, momentum, dampening, weight_decay, nesterov,
                                                  first_step);
            p[i] = select_f32(mask[i], pi, p0);
            buf[i] = select_f32(mask[i], bi, b0);
        }
    }
    return TS_OK;
}
