// Fused optimizer steps over flat parameter buffers; the per-element rules (PyTorch's AdamW and SGD) are
// tessera/ts_optim_math.h, shared with kernels/cpu/optim.c.
#include <stdint.h>

#include "grid.cuh"
#include "tessera/ts_optim_math.h"

extern "C" __global__ void ts_adamw_f32(int64_t n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
    TS_GRID_STRIDE(i, n) p[i] = ts_adamw_elem(c, p[i], g[i], &m[i], &v[i]);
}

// buf may be NULL when momentum == 0; first_step != 0 initialises buf to the update direction.
extern "C" __global__ void ts_sgd_f32(int64_t n, float *p, const float *g, float *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    TS_GRID_STRIDE(i, n) {
        p[i] = momentum == 0.0f ? ts_sgd_elem(p[i], g[i], lr, weight_decay)
                                : ts_sgd_momentum_elem(p[i], g[i], &buf[i], lr, momentum, dampening, weight_decay, nesterov, first_step);
    }
}
