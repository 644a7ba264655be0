/* Per-element optimizer updates shared by the CPU and CUDA kernels (kernels/cpu/optim.c and its
 * CUDA twin), written as PyTorch's torch.optim.AdamW and torch.optim.SGD compute them, so a model
 * trained here follows the same trajectory as the same model trained with PyTorch. */
#ifndef TESSERA_TS_OPTIM_MATH_H
#define TESSERA_TS_OPTIM_MATH_H

#include "tessera/ts_math.h"

/* a * b + c with one rounding where the hardware fuses (x86-64-v3 and up, every CUDA GPU), else two.
 * Spelled out because -ffp-contract would pick which product of a*b + c*d to fuse, and it picks
 * differently in scalar and vectorized loops: an index-list kernel, a dense kernel and the CUDA
 * kernel would then disagree in the last bit. The remaining products never meet an add. */
TS_HD float ts_fma(float a, float b, float c) {
#if defined(__CUDACC__) || defined(__FMA__)
    return fmaf(a, b, c);
#else
    return a * b + c;
#endif
}

/* Per-step scalars of AdamW, computed once per launch rather than once per element.
 * bias_correction_i = 1 - beta_i^step is the caller's (the step count lives in Java). */
typedef struct {
    float lr_wd;       /* lr * weight_decay: decoupled weight decay, p -= lr*wd*p */
    float beta1, one_minus_beta1;
    float beta2, one_minus_beta2;
    float step_size;   /* lr / bias_correction1 */
    float bc2_sqrt;    /* sqrt(bias_correction2) */
    float eps;
} ts_adamw_coef;

TS_HD ts_adamw_coef ts_adamw_coef_make(float lr, float beta1, float beta2, float eps, float weight_decay,
                                       float bias_correction1, float bias_correction2) {
    ts_adamw_coef c;
    c.lr_wd = lr * weight_decay;
    c.beta1 = beta1;
    c.one_minus_beta1 = 1.0f - beta1;
    c.beta2 = beta2;
    c.one_minus_beta2 = 1.0f - beta2;
    c.step_size = lr / bias_correction1;
    c.bc2_sqrt = sqrtf(bias_correction2);
    c.eps = eps;
    return c;
}

/* One AdamW step of one parameter: updates the moments *m and *v and returns the new parameter.
 * Order and grouping follow PyTorch's fused AdamW: weight decay first (on the old parameter), then
 * m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, p -= step_size * m / (sqrt(v) / sqrt(bc2) + eps). */
TS_HD float ts_adamw_elem(ts_adamw_coef c, float p, float g, float *m, float *v) {
    p = ts_fma(-c.lr_wd, p, p);
    const float mn = ts_fma(c.beta1, *m, c.one_minus_beta1 * g);
    const float vn = ts_fma(c.beta2, *v, c.one_minus_beta2 * g * g);
    *m = mn;
    *v = vn;
    const float denom = sqrtf(vn) / c.bc2_sqrt + c.eps;
    return p - c.step_size * mn / denom;
}

/* SGD's update direction without momentum: g + wd*p (the decay term only when wd != 0, as PyTorch
 * does, so an infinite parameter with wd == 0 does not turn the step into NaN). */
TS_HD float ts_sgd_direction(float p, float g, float weight_decay) {
    return weight_decay != 0.0f ? ts_fma(weight_decay, p, g) : g;
}

/* One SGD-with-momentum step of one parameter: updates the momentum buffer *buf and returns the new
 * parameter. PyTorch's rule: d = g + wd p; buf = first_step ? d : momentum buf + (1 - dampening) d;
 * d = nesterov ? d + momentum buf : buf; p -= lr d. */
TS_HD float ts_sgd_momentum_elem(float p, float g, float *buf, float lr, float momentum, float dampening,
                                 float weight_decay, int nesterov, int first_step) {
    float d = ts_sgd_direction(p, g, weight_decay);
    const float b = first_step ? d : ts_fma(momentum, *buf, (1.0f - dampening) * d);
    *buf = b;
    d = nesterov ? ts_fma(momentum, b, d) : b;
    return ts_fma(-lr, d, p);
}

/* One plain SGD step (momentum == 0, no buffer). */
TS_HD float ts_sgd_elem(float p, float g, float lr, float weight_decay) {
    return ts_fma(-lr, ts_sgd_direction(p, g, weight_decay), p);
}

#endif
