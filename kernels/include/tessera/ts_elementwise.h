/* The per-element rule of every unary, binary and compare op code (ts_ops.h), shared by the CPU and CUDA
 * kernels. Called with a constant op (the CPU kernels switch outside their loops), each folds to its one
 * expression after inlining. */
#ifndef TESSERA_TS_ELEMENTWISE_H
#define TESSERA_TS_ELEMENTWISE_H

#include <stdint.h>

#include "tessera/ts_math.h"
#include "tessera/ts_ops.h"

/* alpha is the scalar operand of the *_SCALAR ops. */
TS_HD float ts_unary_elem(int op, float alpha, float v) {
    switch (op) {
    case TS_NEG: return -v;
    case TS_EXP: return expf(v);
    case TS_LOG: return logf(v);
    case TS_SQRT: return sqrtf(v);
    case TS_TANH: return tanhf(v);
    case TS_RELU: return ts_relu(v);
    case TS_GELU_TANH: return ts_gelu_tanh(v);
    case TS_GELU_ERF: return ts_gelu_erf(v);
    case TS_SILU: return ts_silu(v);
    case TS_SIGMOID: return ts_sigmoid(v);
    case TS_ABS: return fabsf(v);
    case TS_RECIPROCAL: return 1.0f / v;
    case TS_ADD_SCALAR: return v + alpha;
    case TS_MUL_SCALAR: return v * alpha;
    case TS_POW_SCALAR: return alpha == 2.0f ? v * v : powf(v, alpha);
    case TS_RSUB_SCALAR: return alpha - v;
    case TS_RDIV_SCALAR: return alpha / v;
    case TS_SIN: return sinf(v);
    case TS_COS: return cosf(v);
    default: return v;
    }
}

/* The *_GRAD ops take (forward input, upstream gradient q); SIGMOID_GRAD and TANH_GRAD take the forward
 * OUTPUT as p: sigmoid' = y (1 - y), tanh' = 1 - y^2. MAXIMUM and MINIMUM propagate NaN, like torch.
 * RELU_GRAD is torch's threshold_backward: 0 where x <= 0, else the upstream gradient, so at a NaN input
 * the gradient passes (PyTorch does the same). */
TS_HD float ts_binary_elem(int op, float p, float q) {
    switch (op) {
    case TS_ADD: return p + q;
    case TS_SUB: return p - q;
    case TS_MUL: return p * q;
    case TS_DIV: return p / q;
    case TS_MAXIMUM: return ts_maximum(p, q);
    case TS_MINIMUM: return ts_minimum(p, q);
    case TS_POW: return powf(p, q);
    case TS_RELU_GRAD: return p <= 0.0f ? 0.0f : q;
    case TS_GELU_TANH_GRAD: return ts_gelu_tanh_grad(p) * q;
    case TS_GELU_ERF_GRAD: return ts_gelu_erf_grad(p) * q;
    case TS_SILU_GRAD: return ts_silu_grad(p) * q;
    case TS_SIGMOID_GRAD: return p * (1.0f - p) * q;
    case TS_TANH_GRAD: return (1.0f - p * p) * q;
    default: return p;
    }
}

TS_HD uint8_t ts_compare_elem(int op, float p, float q) {
    switch (op) {
    case TS_EQ: return p == q;
    case TS_NE: return p != q;
    case TS_LT: return p < q;
    case TS_LE: return p <= q;
    case TS_GT: return p > q;
    default: return p >= q;
    }
}

#endif
