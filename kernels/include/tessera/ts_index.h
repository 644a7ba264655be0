/* Index lists as the kernels take them (embedding rows, class labels, sparse-mask entries): int32 when
 * idx_bytes == 4, int64 when 8 (tensors of 2^31 or more elements need the wide form; smaller ones keep the
 * narrow one to halve the bytes read). Shared by the C and CUDA kernels. */
#ifndef TESSERA_TS_INDEX_H
#define TESSERA_TS_INDEX_H

#include <stdint.h>

#include "tessera/ts_math.h"

TS_HD int64_t ts_index_at(const void *idx, int idx_bytes, int64_t i) {
    return idx_bytes == 4 ? (int64_t)((const int32_t *)idx)[i] : ((const int64_t *)idx)[i];
}

#endif
