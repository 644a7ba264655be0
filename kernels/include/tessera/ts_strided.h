/* N-d strided views for the CUDA elementwise, copy and reduce kernels, passed by value as one kernel
 * argument (kernels/cuda/strided.cuh indexes them). Java fills the struct (io.tessera.engine.cuda.StridedArgs,
 * layout KernelStructs.STRIDED): the dims are coalesced and size-1 dims dropped already, so a contiguous
 * tensor of any rank is one flat dim. Plain C, so that the CPU library can report its layout too. */
#ifndef TESSERA_TS_STRIDED_H
#define TESSERA_TS_STRIDED_H

#include <stdint.h>

#include "tessera/ts_abi.h"
#include "tessera/ts_ops.h"

#define TS_STRIDED_OPERANDS 4

typedef struct {
    int64_t numel;
    int32_t ndim; /* >= 1 */
    int32_t unused;
    int64_t shape[TS_MAX_DIMS];
    int64_t strides[TS_STRIDED_OPERANDS][TS_MAX_DIMS]; /* in elements, per operand */
} ts_strided;

#define TS_STRIDED_LAYOUT(SIZE, FIELD)                                                                   \
    SIZE(ts_strided, 336)                                                                                \
    FIELD(ts_strided, numel, 0) FIELD(ts_strided, ndim, 8) FIELD(ts_strided, unused, 12)                \
    FIELD(ts_strided, shape, 16) FIELD(ts_strided, strides, 80)
TS_STRIDED_LAYOUT(TS_ABI_SIZE, TS_ABI_OFFSET)

#endif
