// Optimizer steps restricted to a fixed sparse mask, the CUDA twins of kernels/cpu/masked_optim.c, with the
// same per-element rules (tessera/ts_optim_math.h):
//  - indexed: one thread per listed entry idx[j] (sorted, unique, in range: Java validated them); the
//    state is compact, slot j belongs to entry idx[j], and so is g when g_compact != 0 (else g is
//    full-size and read at idx[j]). Entries the list does not name are never read.
//  - masked: one thread per entry with a 0/1 u8 mask and full-size state; an unmasked entry is not
//    written, so p and its state keep their bits.
// buf may be NULL when momentum == 0 (it is then never indexed); first_step != 0 initialises buf to the
// update direction.
#include <stdint.h>

#include "grid.cuh"
#include "tessera/ts_index.h"
#include "tessera/ts_optim_math.h"

// One SGD step of one parameter whose momentum slot is buf[slot].
__device__ static inline float ts_sgd_step(float p, float g, float *buf, int64_t slot, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    return momentum == 0.0f ? ts_sgd_elem(p, g, lr, weight_decay)
                            : ts_sgd_momentum_elem(p, g, &buf[slot], lr, momentum, dampening, weight_decay, nesterov, first_step);
}

extern "C" __global__ void ts_adamw_indexed_f32(int64_t k, const void *idx, int idx_bytes, float *p, const float *g, int g_compact, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
    TS_GRID_STRIDE(j, k) {
        const int64_t i = ts_index_at(idx, idx_bytes, j);
        p[i] = ts_adamw_elem(c, p[i], g[g_compact ? j : i], &m[j], &v[j]);
    }
}

extern "C" __global__ void ts_adamw_masked_f32(int64_t n, const uint8_t *mask, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
    TS_GRID_STRIDE(i, n) {
        if (mask[i]) p[i] = ts_adamw_elem(c, p[i], g[i], &m[i], &v[i]);
    }
}

extern "C" __global__ void ts_sgd_indexed_f32(int64_t k, const void *idx, int idx_bytes, float *p, const float *g, int g_compact, float *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    TS_GRID_STRIDE(j, k) {
        const int64_t i = ts_index_at(idx, idx_bytes, j);
        p[i] = ts_sgd_step(p[i], g[g_compact ? j : i], buf, j, lr, momentum, dampening, weight_decay, nesterov, first_step);
    }
}

extern "C" __global__ void ts_sgd_masked_f32(int64_t n, const uint8_t *mask, float *p, const float *g, float *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    TS_GRID_STRIDE(i, n) {
        if (mask[i]) p[i] = ts_sgd_step(p[i], g[i], buf, i, lr, momentum, dampening, weight_decay, nesterov, first_step);
    }
}
