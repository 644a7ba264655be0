// Fused optimizer steps over flat parameter buffers; the per-element rules (PyTorch's AdamW and SGD) are
// tessera/ts_optim_math.h, shared with kernels/cpu/optim.c. Four elements a lane through vector accesses
// when every buffer is aligned (optim_steps.cuh).
#include <stdint.h>

#include "optim_steps.cuh"

extern "C" __global__ void ts_adamw_f32(int64_t n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) {
    const ts_adamw_coef c = ts_adamw_coef_make(lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
    ts_grid_stride4(
        ts_vec4_aligned(p) && ts_vec4_aligned(g) && ts_vec4_aligned(m) && ts_vec4_aligned(v), n,
        [&](int64_t i4) { ts_adamw_at4(c, p, g, m, v, i4); }, [&](int64_t i) { ts_adamw_at(c, p, g, m, v, i); });
}

// buf may be NULL when momentum == 0; first_step != 0 initialises buf to the update direction.
extern "C" __global__ void ts_sgd_f32(int64_t n, float *p, const float *g, float *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    const ts_sgd_args s = {lr, momentum, dampening, weight_decay, nesterov, first_step};
    ts_grid_stride4(
        ts_vec4_aligned(p) && ts_vec4_aligned(g) && ts_vec4_aligned(buf), n, [&](int64_t i4) { ts_sgd_at4(s, p, g, buf, i4); },
        [&](int64_t i) { ts_sgd_at(s, p, g, buf, i); });
}
