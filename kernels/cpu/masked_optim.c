/* Optimizer steps restricted to a fixed sparse mask, in two forms of the same per-element update
 * (tessera/ts_optim_math.h, shared with optim.c and the CUDA kernels, so every form agrees bit for bit
 * with the dense step on the entries it updates):
 *
 *  - indexed: walks the k listed entries idx[0..k) of p and g (int32 when idx_bytes == 4, int64 when
 *    8; sorted, unique and in range: Java validated them). The optimizer state (m and v, or buf) is
 *    compact: slot j belongs to entry idx[j]. Cost O(k), whatever the tensor size.
 *  - masked: one dense pass over all n entries with a 0/1 u8 mask and full-size state. An entry whose
 *    mask byte is 0 keeps the bits of p and of its state: the kernel selects, it does not multiply by
 *    the mask (0 * an infinite update would be NaN).
 *
 * p, g, the state and the index list or mask must not overlap. */
#include "tessera/ts_optim_math.h"
#include "ts_cpu.h"

/* An indexed entry costs a cache miss or two (~100 ns), not the ~1 ns of a streamed one, so splitting
 * the list over threads pays off at far fewer entries than TS_PARALLEL_MIN. */
#define TS_INDEXED_PARALLEL_MIN 4096
/* Entries ahead whose p and g lines are prefetched: enough to cover DRAM latency (~100 ns) at a few
 * ns per entry. */
#define TS_PREFETCH_AHEAD 16

static inline int64_t index_at(const void *idx, int idx_bytes, int64_t j) {
    return idx_bytes == 4 ? (int64_t)((const int32_t *)idx)[j] : ((const int64_t *)idx)[j];
}

/* The listed entries are scattered, so the hardware prefetcher does not see them coming. */
static inline void prefetch_entry(const void *idx, int idx_bytes, int64_t j, int64_t k, const float *p,
                                  const float *g) {
    if (j + TS_PREFETCH_AHEAD < k) {
        const int64_t ahead = index_at(idx, idx_bytes, j + TS_PREFETCH_AHEAD);
        __builtin_prefetch(p + ahead, 1);
        __builtin_prefetch(g + ahead, 0);
    }
}

int TS_FN(ts_adamw_indexed_f32)(int64_t k, const void *idx, int idx_bytes, float *restrict p, const float *restrict g,
                                float *restrict m, float *restrict v, float lr, float beta1, float beta2, float eps,
                                float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
#pragma omp parallel for schedule(static) if (k >= TS_INDEXED_PARALLEL_MIN)
    for (int64_t j = 0; j < k; j++) {
        prefetch_entry(idx, idx_bytes, j, k, p, g);
        const int64_t i = index_at(idx, idx_bytes, j);
        p[i] = ts_adamw_elem(c, p[i], g[i], &m[j], &v[j]);
    }
    return TS_OK;
}

int TS_FN(ts_adamw_masked_f32)(int64_t n, const uint8_t *restrict mask, float *restrict p, const float *restrict g,
                               float *restrict m, float *restrict v, float lr, float beta1, float beta2, float eps,
                               float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        float mi = m[i];
        float vi = v[i];
        const float pi = ts_adamw_elem(c, p[i], g[i], &mi, &vi);
        const int on = mask[i] != 0;
        p[i] = on ? pi : p[i];
        m[i] = on ? mi : m[i];
        v[i] = on ? vi : v[i];
    }
    return TS_OK;
}

/* buf may be NULL when momentum == 0; first_step != 0 initialises buf to the update direction. */
int TS_FN(ts_sgd_indexed_f32)(int64_t k, const void *idx, int idx_bytes, float *restrict p, const float *restrict g,
                              float *restrict buf, float lr, float momentum, float dampening, float weight_decay,
                              int nesterov, int first_step) {
#pragma omp parallel for schedule(static) if (k >= TS_INDEXED_PARALLEL_MIN)
    for (int64_t j = 0; j < k; j++) {
        prefetch_entry(idx, idx_bytes, j, k, p, g);
        const int64_t i = index_at(idx, idx_bytes, j);
        p[i] = momentum == 0.0f ? ts_sgd_elem(p[i], g[i], lr, weight_decay)
                                : ts_sgd_momentum_elem(p[i], g[i], &buf[j], lr, momentum, dampening, weight_decay,
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
            const float pi = ts_sgd_elem(p[i], g[i], lr, weight_decay);
            p[i] = mask[i] != 0 ? pi : p[i];
        }
    } else {
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) {
            float bi = buf[i];
            const float pi = ts_sgd_momentum_elem(p[i], g[i], &bi, lr, momentum, dampening, weight_decay, nesterov,
                                                  first_step);
            const int on = mask[i] != 0;
            p[i] = on ? pi : p[i];
            buf[i] = on ? bi : buf[i];
        }
    }
    return TS_OK;
}
