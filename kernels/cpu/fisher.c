/* Kernels of the Fisher module: compensated accumulation, radix selection of the k largest values
 * across many buffers (FISH masks), and the fused Fisher-weighted merge. */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

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

/* hist[digit] += count of valid elements whose key's top prefix_bits equal prefix, where digit is the
 * digit_bits-wide field of the key starting at bit digit_shift; *invalid = count of invalid elements
 * (left out), so the first pass of a selection also validates. Keys: ts_nonneg_key. One pass of a
 * most-significant-digit radix select; per-thread histograms are merged at the end. */
int TS_FN(ts_radix_histogram_f32)(int64_t n, const float *restrict x, int64_t prefix, int prefix_bits, int digit_shift,
                                  int digit_bits, int64_t *restrict hist, int64_t *restrict invalid) {
    const int64_t bins = (int64_t)1 << digit_bits;
    const uint32_t mask = (uint32_t)(bins - 1);
    const int prefix_shift = 32 - prefix_bits;
    int64_t bad = 0;
    int status = TS_OK;
#pragma omp parallel if (n >= TS_PARALLEL_MIN) reduction(+ : bad)
    {
        int64_t *local = calloc((size_t)bins, sizeof(int64_t));
        if (local == NULL) {
#pragma omp atomic write
            status = TS_ERR_NOMEM;
        }
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            const int ok = ts_valid_score(x[i]);
            const uint32_t key = ts_nonneg_key(x[i]);
            bad += !ok;
            if (local != NULL && ok && (prefix_bits == 0 || (int64_t)(key >> prefix_shift) == prefix)) local[(key >> digit_shift) & mask]++;
        }
        if (local != NULL) {
#pragma omp critical
            for (int64_t b = 0; b < bins; b++) hist[b] += local[b];
            free(local);
        }
    }
    *invalid = bad;
    return status;
}

/* One thread's hits of ts_select_above_f32, in increasing index order, and its counts of keys above and
 * equal to the threshold (stored or not). */
typedef struct {
    int64_t *indices;
    int32_t *keys;
    int64_t len, room, above, equal;
} hit_list;

/* Room for at least `more` further hits. */
static int hit_reserve(hit_list *h, int64_t more) {
    if (h->len + more <= h->room) return TS_OK;
    const int64_t room = h->room + more > 2 * h->room ? h->room + more : 2 * h->room;
    int64_t *indices = realloc(h->indices, (size_t)room * sizeof(int64_t));
    if (indices != NULL) h->indices = indices;
    int32_t *keys = realloc(h->keys, (size_t)room * sizeof(int32_t));
    if (keys != NULL) h->keys = keys;
    if (indices == NULL || keys == NULL) return TS_ERR_NOMEM;
    h->room = room;
    return TS_OK;
}

/* Writes to indices/keys, in increasing index order, the elements whose key is above threshold_key and the
 * first equal_quota whose key equals it, at most capacity of them. counts[0] = how many were written,
 * counts[1] = how many qualify (may exceed capacity), counts[2] = how many elements are invalid (NaN,
 * infinite, negative), so a selection pass also validates. Each thread collects its static chunk into a
 * private list (at most capacity entries, which bounds memory), then the lists are concatenated in thread
 * order, so the output does not depend on the thread count. A block of 16 with no hit, the common case,
 * costs one vectorised compare; a block with one is compacted without branches (hits are unpredictable). */
int TS_FN(ts_select_above_f32)(int64_t n, const float *restrict x, int64_t threshold_key, int64_t equal_quota,
                               int64_t capacity, int64_t *restrict indices, int32_t *restrict keys,
                               int64_t *restrict counts) {
    enum { BLOCK = 16 };
    const uint32_t t = (uint32_t)threshold_key;
    const int threads = n >= TS_PARALLEL_MIN ? omp_get_max_threads() : 1;
    hit_list *lists = calloc((size_t)threads, sizeof(hit_list));
    if (lists == NULL) return TS_ERR_NOMEM;
    int64_t bad = 0;
    int status = TS_OK;
#pragma omp parallel num_threads(threads) reduction(+ : bad)
    {
        const int64_t me = omp_get_thread_num(), nt = omp_get_num_threads();
        hit_list *h = &lists[me];
        int64_t len = 0, above = 0, equal = 0; /* locals: stores through h->indices could alias h's fields */
        const int64_t end = n * (me + 1) / nt;
        for (int64_t start = n * me / nt; start < end; start += BLOCK) {
            const int64_t stop = start + BLOCK < end ? start + BLOCK : end;
            /* the largest bits in the block below t: no hit and nothing invalid (t is a valid key, and
             * negatives, -0 included, have the sign bit set) */
            uint32_t most = 0;
            for (int64_t i = start; i < stop; i++) {
                const uint32_t u = ts_float_bits(x[i]);
                most = u > most ? u : most;
            }
            if (most < t) continue;
            h->len = len;
            if (hit_reserve(h, BLOCK) != TS_OK) {
#pragma omp atomic write
                status = TS_ERR_NOMEM;
                break;
            }
            int64_t *restrict hit_index = h->indices;
            int32_t *restrict hit_key = h->keys;
            for (int64_t i = start; i < stop; i++) {
                const uint32_t key = ts_nonneg_key(x[i]);
                const int is_equal = key == t, ok = ts_valid_score(x[i]);
                const int take = ok & ((key > t) | (is_equal & (equal < equal_quota))) & (len < capacity);
                bad += !ok;
                above += ok & (key > t);
                equal += ok & is_equal; /* a negative score's key is 0, but it is invalid, never a tie */
                hit_index[len] = i;
                hit_key[len] = (int32_t)key;
                len += take;
            }
        }
        h->len = len;
        h->above = above;
        h->equal = equal;
    }
    int64_t written = 0, taken = 0, above = 0, equal = 0;
    for (int me = 0; me < threads; me++) {
        const hit_list *h = &lists[me];
        for (int64_t j = 0; status == TS_OK && j < h->len && written < capacity; j++) {
            const int is_equal = (uint32_t)h->keys[j] == t;
            if (is_equal && taken >= equal_quota) continue;
            taken += is_equal;
            indices[written] = h->indices[j];
            keys[written++] = h->keys[j];
        }
        above += h->above;
        equal += h->equal;
        free(h->indices);
        free(h->keys);
    }
    free(lists);
    counts[0] = written;
    counts[1] = above + (equal < equal_quota ? equal : equal_quota);
    counts[2] = bad;
    return status;
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
