// Optimizer steps restricted to a fixed sparse mask, the CUDA twins of kernels/cpu/masked_optim.c, with the
// same per-element rules (tessera/ts_optim_math.h):
//  - indexed: one thread per listed entry idx[j] (sorted, unique, in range: Java validated them); the
//    state is compact, slot j belongs to entry idx[j], and so is g when g_compact != 0 (else g is
//    full-size and read at idx[j]). Entries the list does not name are never read.
//  - masked: one thread per entry (per four, where all four are set and the buffers aligned) with a 0/1 u8
//    mask and full-size state; an unmasked entry is not written, so p and its state keep their bits.
// buf may be NULL when momentum == 0 (it is then never indexed); first_step != 0 initialises buf to the
// update direction.
#include <stdint.h>

#include "grid.cuh"
#include "optim_steps.cuh"
#include "tessera/ts_index.h"

extern "C" __global__ void ts_adamw_indexed_f32(int64_t k, const void *idx, int idx_bytes, float *p, const float *g, int g_compact, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
    TS_GRID_STRIDE(j, k) {
        const int64_t i = ts_index_at(idx, idx_bytes, j);
        p[i] = ts_adamw_elem(c, p[i], g[g_compact ? j : i], &m[j], &v[j]);
    }
}

extern "C" __global__ void ts_adamw_masked_f32(int64_t n, const uint8_t *mask, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
    ts_masked_grid_stride4(
        ts_vec4_aligned(p) && ts_vec4_aligned(g) && ts_vec4_aligned(m) && ts_vec4_aligned(v), n, mask,
        [&](int64_t i4) { ts_adamw_at4(c, p, g, m, v, i4); }, [&](int64_t i) { ts_adamw_at(c, p, g, m, v, i); });
}

extern "C" __global__ void ts_sgd_indexed_f32(int64_t k, const void *idx, int idx_bytes, float *p, const float *g, int g_compact, float *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    const ts_sgd_args s = {lr, momentum, dampening, weight_decay, nesterov, first_step};
    TS_GRID_STRIDE(j, k) {
        const int64_t i = ts_index_at(idx, idx_bytes, j);
        p[i] = ts_sgd_step(s, p[i], g[g_compact ? j : i], buf, j);
    }
}

extern "C" __global__ void ts_sgd_masked_f32(int64_t n, const uint8_t *mask, float *p, const float *g, float *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    const ts_sgd_args s = {lr, momentum, dampening, weight_decay, nesterov, first_step};
    ts_masked_grid_stride4(
        ts_vec4_aligned(p) && ts_vec4_aligned(g) && ts_vec4_aligned(buf), n, mask, [&](int64_t i4) { ts_sgd_at4(s, p, g, buf, i4); },
        [&](int64_t i) { ts_sgd_at(s, p, g, buf, i); });
}
