/* Fused optimizer steps over flat parameter buffers: one pass reads p, g and the state once and
 * writes p and the state once. The per-element rules (PyTorch's AdamW and SGD) are in
 * tessera/ts_optim_math.h, shared with the CUDA kernels. p, g and the state buffers must not overlap. */
#include "tessera/ts_optim_math.h"
#include "ts_cpu.h"

int TS_FN(ts_adamw_f32)(int64_t n, float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                        float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1,
                        float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        p[i] = ts_adamw_elem(c, p[i], g[i], &m[i], &v[i]);
    }
    return TS_OK;
}

/* buf may be NULL when momentum == 0; first_step != 0 initialises buf to the update direction. */
int TS_FN(ts_sgd_f32)(int64_t n, float *restrict p, const float *restrict g, float *restrict buf, float lr,
                      float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    if (momentum == 0.0f) {
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) {
            p[i] = ts_sgd_elem(p[i], g[i], lr, weight_decay);
        }
    } else {
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) {
            p[i] = ts_sgd_momentum_elem(p[i], g[i], &buf[i], lr, momentum, dampening, weight_decay, nesterov,
                                        first_step);
        }
    }
    return TS_OK;
}
