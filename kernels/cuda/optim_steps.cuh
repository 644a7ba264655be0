// The optimizer steps of one element or of four (vec4.cuh) that the dense (optim.cu) and masked
// (masked_optim.cu) kernels share; the per-element rules are tessera/ts_optim_math.h.
#ifndef TESSERA_OPTIM_STEPS_CUH
#define TESSERA_OPTIM_STEPS_CUH

#include <stdint.h>

#include "tessera/ts_optim_math.h"
#include "vec4.cuh"

// SGD's per-launch scalars. buf may be NULL when momentum == 0 (it is then never indexed); first_step != 0
// initialises buf to the update direction.
struct ts_sgd_args {
    float lr, momentum, dampening, weight_decay;
    int nesterov, first_step;
};

// One SGD step of one parameter whose momentum slot is buf[slot].
__device__ static inline float ts_sgd_step(const ts_sgd_args &s, float p, float g, float *buf, int64_t slot) {
    return s.momentum == 0.0f ? ts_sgd_elem(p, g, s.lr, s.weight_decay)
                              : ts_sgd_momentum_elem(p, g, &buf[slot], s.lr, s.momentum, s.dampening, s.weight_decay, s.nesterov,
                                                     s.first_step);
}

__device__ static inline void ts_adamw_at(const ts_adamw_coef &c, float *p, const float *g, float *m, float *v, int64_t i) {
    p[i] = ts_adamw_elem(c, p[i], g[i], &m[i], &v[i]);
}

// Elements [4 i4, 4 i4 + 4), every operand read and written with vector accesses.
__device__ static inline void ts_adamw_at4(const ts_adamw_coef &c, float *p, const float *g, float *m, float *v, int64_t i4) {
    ts_quad<float> pq = ts_load4(p, i4), mq = ts_load4(m, i4), vq = ts_load4(v, i4);
    const ts_quad<float> gq = ts_load4(g, i4);
    for (int k = 0; k < 4; k++) pq.v[k] = ts_adamw_elem(c, pq.v[k], gq.v[k], &mq.v[k], &vq.v[k]);
    ts_store4(p, i4, pq);
    ts_store4(m, i4, mq);
    ts_store4(v, i4, vq);
}

__device__ static inline void ts_sgd_at(const ts_sgd_args &s, float *p, const float *g, float *buf, int64_t i) {
    p[i] = ts_sgd_step(s, p[i], g[i], buf, i);
}

__device__ static inline void ts_sgd_at4(const ts_sgd_args &s, float *p, const float *g, float *buf, int64_t i4) {
    ts_quad<float> pq = ts_load4(p, i4);
    const ts_quad<float> gq = ts_load4(g, i4);
    ts_quad<float> bq = s.momentum == 0.0f ? ts_quad<float>{} : ts_load4(buf, i4);
    for (int k = 0; k < 4; k++) pq.v[k] = ts_sgd_step(s, pq.v[k], gq.v[k], bq.v, k);
    ts_store4(p, i4, pq);
    if (s.momentum != 0.0f) ts_store4(buf, i4, bq);
}

// step4(i4) or step(i) at the entries of [0, n) whose mask byte is set, grid-strided. A group of four whose
// mask is all set takes the vector step (when `vector`, and the mask is aligned too); a partly set group
// steps only its set entries, so an unset entry is neither read nor written.
template <typename Step4, typename Step>
__device__ static inline void ts_masked_grid_stride4(bool vector, int64_t n, const uint8_t *mask, Step4 step4, Step step) {
    ts_grid_stride4(
        vector && ts_vec4_aligned(mask), n,
        [&](int64_t i4) {
            const ts_quad<uint8_t> set = ts_load4(mask, i4);
            if (set.v[0] && set.v[1] && set.v[2] && set.v[3]) {
                step4(i4);
            } else {
                for (int k = 0; k < 4; k++)
                    if (set.v[k]) step(4 * i4 + k);
            }
        },
        [&](int64_t i) {
            if (mask[i]) step(i);
        });
}

#endif
