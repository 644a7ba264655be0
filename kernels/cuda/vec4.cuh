// Vector accesses for the memory-bound kernels: a lane loads or stores four consecutive elements in one
// instruction (float4 and int4: 16 bytes; char4 and uchar4: 4), so a warp's request of floats covers 512
// bytes instead of 128 and the kernel issues a quarter of the loads. Only where every operand is aligned to
// its vector, which the kernels check at run time: a view at an odd offset, or rows whose length is not a
// multiple of 4, take the element-by-element path instead, and so do the last n % 4 elements.
#ifndef TESSERA_VEC4_CUH
#define TESSERA_VEC4_CUH

#include <stdint.h>
#include <string.h>

#include "grid.cuh"

// The CUDA vector type of four T.
template <typename T>
struct ts_vec4;
template <>
struct ts_vec4<float> {
    typedef float4 type;
};
template <>
struct ts_vec4<int32_t> {
    typedef int4 type;
};
template <>
struct ts_vec4<int8_t> {
    typedef char4 type;
};
template <>
struct ts_vec4<uint8_t> {
    typedef uchar4 type;
};

// Four elements in registers, indexable (a vector type's members are not).
template <typename T>
struct ts_quad {
    T v[4];
};

// Whether p may be read or written four T at a time (NULL may: an operand a kernel does not touch).
template <typename T>
__device__ static inline bool ts_vec4_aligned(const T *p) {
    return (uintptr_t)p % sizeof(typename ts_vec4<T>::type) == 0;
}

// p[4 i4 .. 4 i4 + 3] in one access.
template <typename T>
__device__ static inline ts_quad<T> ts_load4(const T *p, int64_t i4) {
    const typename ts_vec4<T>::type w = reinterpret_cast<const typename ts_vec4<T>::type *>(p)[i4];
    ts_quad<T> q;
    memcpy(&q, &w, sizeof q);
    return q;
}

template <typename T>
__device__ static inline void ts_store4(T *p, int64_t i4, const ts_quad<T> &q) {
    typename ts_vec4<T>::type w;
    memcpy(&w, &q, sizeof w);
    reinterpret_cast<typename ts_vec4<T>::type *>(p)[i4] = w;
}

// Over [0, n), grid-strided: vec(i4) for each group of four [4 i4, 4 i4 + 4), then one(i) for the n % 4
// elements left; or one(i) for every element when !vector.
template <typename Vec, typename One>
__device__ static inline void ts_grid_stride4(bool vector, int64_t n, Vec vec, One one) {
    const int64_t n4 = vector ? n / 4 : 0;
    TS_GRID_STRIDE(i4, n4) vec(i4);
    TS_GRID_STRIDE(t, n - 4 * n4) one(4 * n4 + t);
}

// The same over [0, len) within one block (TS_BLOCK_COLS), for the one-block-per-row kernels.
template <typename Vec, typename One>
__device__ static inline void ts_block_cols4(bool vector, int64_t len, Vec vec, One one) {
    const int64_t len4 = vector ? len / 4 : 0;
    TS_BLOCK_COLS(j4, len4) vec(j4);
    TS_BLOCK_COLS(t, len - 4 * len4) one(4 * len4 + t);
}

#endif
