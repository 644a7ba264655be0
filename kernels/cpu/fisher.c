/* Kernels of the Fisher module: compensated accumulation, radix selection of the k largest values
 * across many buffers (FISH masks), and the fused Fisher-weighted merge. */
#include <stdlib.h>
#include <string.h>

#include "ts_cpu.h"

/* sum += (square ? x*x : x), element by element, with Kahan compensation in comp. */
int TS_FN(ts_kahan_accumulate_f32)(int64_t n, const float *restrict x, int square, float *restrict sum,
                                   float *restrict comp) {
#pragma omp parallel for schedule(static) if (n >= TS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        ts_kahan_add(&sum[i], &comp[i], square ? x[i] * x[i] : x[i]);
    }
    return TS_OK;
}

/* hist[digit] += count of elements whose key's top prefix_bits equal prefix, where digit is the
 * digit_bits-wide field of the key starting at bit digit_shift. Keys: ts_nonneg_key. One pass of a
 * most-significant-digit radix select; per-thread histograms are merged at the end. */
int TS_FN(ts_radix_histogram_f32)(int64_t n, const float *restrict x, int64_t prefix, int prefix_bits, int digit_shift,
                                  int digit_bits, int64_t *restrict hist) {
    const int64_t bins = (int64_t)1 << digit_bits;
    const uint32_t mask = (uint32_t)(bins - 1);
    const int prefix_shift = 32 - prefix_bits;
#pragma omp parallel if (n >= TS_PARALLEL_MIN)
    {
        int64_t *local = calloc((size_t)bins, sizeof(int64_t));
        if (local != NULL) {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n; i++) {
                const uint32_t key = ts_nonneg_key(x[i]);
                if (prefix_bits == 0 || (int64_t)(key >> prefix_shift) == prefix) local[(key >> digit_shift) & mask]++;
            }
#pragma omp critical
            for (int64_t b = 0; b < bins; b++) hist[b] += local[b];
            free(local);
        }
    }
    return TS_OK;
}

/* Writes, in increasing order, the indices of elements whose key is above threshold_key, plus the first
 * equal_quota elements whose key equals it, at most capacity of them. result[0] = indices written,
 * result[1] = equal ones taken. */
int TS_FN(ts_select_above_f32)(int64_t n, const float *restrict x, int64_t threshold_key, int64_t equal_quota,
                               int64_t capacity, int64_t *restrict indices, int64_t *restrict result) {
    int64_t count = 0, equal = 0;
    const uint32_t t = (uint32_t)threshold_key;
    for (int64_t i = 0; i < n && count < capacity; i++) {
        const uint32_t key = ts_nonneg_key(x[i]);
        if (key > t || (key == t && equal < equal_quota)) {
            equal += key == t;
            indices[count++] = i;
        }
    }
    result[0] = count;
    result[1] = equal;
    return TS_OK;
}

/* out = sum_m w_m d_m theta_m / sum_m w_m d_m with d_m = max(scale_m * F_m, floor): the Fisher-weighted
 * average of Matena & Raffel, in one pass over every model's parameters and Fisher. Each model's share
 * (w_m d_m) / den is formed by division, so one model (share x / x = 1), zero weights and identical
 * models all give their inputs back bit for bit. */
static inline float merge_term(const float *const *fishers, const float *weights, const float *scales, float floor_value,
                               int m, int64_t i) {
    return ts_fisher_merge_weight(weights[m], scales[m], fishers[m][i], floor_value);
}

int TS_FN(ts_fisher_merge_f32)(int64_t n, int models, const float *const *thetas, const float *const *fishers,
                               const float *weights, const float *scales, float floor_value, float *restrict out) {
    if (models == 2) { /* the common case, straight-line so it vectorises */
        const float *restrict t0 = thetas[0], *restrict t1 = thetas[1];
        const float *restrict f0 = fishers[0], *restrict f1 = fishers[1];
        const float w0 = weights[0], w1 = weights[1], s0 = scales[0], s1 = scales[1];
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) {
            const float d0 = ts_fisher_merge_weight(w0, s0, f0[i], floor_value);
            const float d1 = ts_fisher_merge_weight(w1, s1, f1[i], floor_value);
            const float den = d0 + d1;
            out[i] = d0 / den * t0[i] + d1 / den * t1[i];
        }
        return TS_OK;
    }
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        float den = 0.0f;
        for (int m = 0; m < models; m++) den += merge_term(fishers, weights, scales, floor_value, m, i);
        float acc = 0.0f;
        for (int m = 0; m < models; m++) acc += merge_term(fishers, weights, scales, floor_value, m, i) / den * thetas[m][i];
        out[i] = acc;
    }
    return TS_OK;
}
