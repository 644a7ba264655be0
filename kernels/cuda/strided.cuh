// N-d strided views for the elementwise, copy and reduce kernels, passed by value as one kernel
// argument. Java fills the struct (io.tessera.engine.cuda.StridedArgs, same layout): the dims are
// coalesced and size-1 dims dropped already, so a contiguous tensor of any rank is one flat dim.
#ifndef TESSERA_STRIDED_CUH
#define TESSERA_STRIDED_CUH

#include <stdint.h>

#include "tessera/ts_ops.h"

#define TS_STRIDED_OPERANDS 4

typedef struct {
    int64_t numel;
    int32_t ndim;  // >= 1
    int32_t unused;
    int64_t shape[TS_MAX_DIMS];
    int64_t strides[TS_STRIDED_OPERANDS][TS_MAX_DIMS];  // in elements, per operand
} ts_strided;

// The element offsets, for operands [0, nops), of flat (row-major) index i.
__device__ static inline void ts_strided_offsets(const ts_strided &v, int64_t i, int nops, int64_t *off) {
    for (int o = 0; o < nops; o++) off[o] = 0;
    for (int d = v.ndim - 1; d >= 0; d--) {
        const int64_t k = i % v.shape[d];
        i /= v.shape[d];
        for (int o = 0; o < nops; o++) off[o] += k * v.strides[o][d];
    }
}

#endif
