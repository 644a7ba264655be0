// Elementwise kernels over strided N-d views (broadcasting through stride 0); the per-element rules are
// tessera/ts_elementwise.h, shared with kernels/cpu/elementwise.c. Operands in v: inputs, then y.
#include <stdint.h>

#include <utility>

#include "grid.cuh"
#include "strided.cuh"
#include "tessera/ts_elementwise.h"
#include "vec4.cuh"

template <typename Out, typename F, typename... In>
__device__ static inline ts_quad<Out> ts_quad_map(F f, const ts_quad<In> &...in) {
    ts_quad<Out> out;
    for (int k = 0; k < 4; k++) out.v[k] = f(in.v[k]...);
    return out;
}

// y = f(in...) elementwise over v. When every operand is one contiguous run (StridedArgs merges a
// contiguous view of any rank into one dim of stride 1) and aligned, four elements a lane through vector
// accesses; else, and for the last numel % 4, through the strides.
template <typename Out, typename F, typename... In, size_t... I>
__device__ static inline void ts_elementwise(const ts_strided &v, F f, std::index_sequence<I...>, Out *y, const In *...in) {
    constexpr int nops = sizeof...(In) + 1;
    bool vector = v.ndim == 1 && ts_vec4_aligned(y) && (ts_vec4_aligned(in) && ...);
    for (int o = 0; o < nops; o++) vector = vector && v.strides[o][0] == 1;
    ts_grid_stride4(
        vector, v.numel, [&](int64_t i4) { ts_store4(y, i4, ts_quad_map<Out>(f, ts_load4(in, i4)...)); },
        [&](int64_t i) {
            int64_t off[nops];
            ts_strided_offsets(v, i, nops, off);
            y[off[nops - 1]] = f(in[off[I]]...);
        });
}

extern "C" __global__ void ts_unary_f32(int op, float alpha, ts_strided v, const float *x, float *y) {
    ts_elementwise(v, [=](float a) { return ts_unary_elem(op, alpha, a); }, std::index_sequence<0>(), y, x);
}

extern "C" __global__ void ts_binary_f32(int op, ts_strided v, const float *a, const float *b, float *y) {
    ts_elementwise(v, [=](float p, float q) { return ts_binary_elem(op, p, q); }, std::index_sequence<0, 1>(), y, a, b);
}

extern "C" __global__ void ts_compare_f32(int op, ts_strided v, const float *a, const float *b, uint8_t *y) {
    ts_elementwise(v, [=](float p, float q) { return ts_compare_elem(op, p, q); }, std::index_sequence<0, 1>(), y, a, b);
}

extern "C" __global__ void ts_where_f32(ts_strided v, const uint8_t *c, const float *a, const float *b, float *y) {
    ts_elementwise(v, [](uint8_t s, float p, float q) { return s ? p : q; }, std::index_sequence<0, 1, 2>(), y, c, a, b);
}
