// Indexing of the N-d strided views (tessera/ts_strided.h) the elementwise, copy and reduce kernels take.
#ifndef TESSERA_STRIDED_CUH
#define TESSERA_STRIDED_CUH

#include <stdint.h>

#include "tessera/ts_strided.h"

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
