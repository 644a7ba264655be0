// Elementwise kernels over strided N-d views (broadcasting through stride 0); the per-element rules are
// tessera/ts_elementwise.h, shared with kernels/cpu/elementwise.c. Operands in v: inputs, then y.
#include <stdint.h>

#include "grid.cuh"
#include "strided.cuh"
#include "tessera/ts_elementwise.h"

extern "C" __global__ void ts_unary_f32(int op, float alpha, ts_strided v, const float *x, float *y) {
    TS_GRID_STRIDE(i, v.numel) {
        int64_t off[2];
        ts_strided_offsets(v, i, 2, off);
        y[off[1]] = ts_unary_elem(op, alpha, x[off[0]]);
    }
}

extern "C" __global__ void ts_binary_f32(int op, ts_strided v, const float *a, const float *b, float *y) {
    TS_GRID_STRIDE(i, v.numel) {
        int64_t off[3];
        ts_strided_offsets(v, i, 3, off);
        y[off[2]] = ts_binary_elem(op, a[off[0]], b[off[1]]);
    }
}

extern "C" __global__ void ts_compare_f32(int op, ts_strided v, const float *a, const float *b, uint8_t *y) {
    TS_GRID_STRIDE(i, v.numel) {
        int64_t off[3];
        ts_strided_offsets(v, i, 3, off);
        y[off[2]] = ts_compare_elem(op, a[off[0]], b[off[1]]);
    }
}

extern "C" __global__ void ts_where_f32(ts_strided v, const uint8_t *c, const float *a, const float *b, float *y) {
    TS_GRID_STRIDE(i, v.numel) {
        int64_t off[4];
        ts_strided_offsets(v, i, 4, off);
        y[off[3]] = c[off[0]] ? a[off[1]] : b[off[2]];
    }
}
