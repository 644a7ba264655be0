// Strided copy with dtype conversion and fill; the per-element conversions are tessera/ts_convert.h,
// shared with kernels/cpu/copy.c.
#include <stdint.h>

#include "grid.cuh"
#include "strided.cuh"
#include "tessera/ts_convert.h"

// Operand 0 of v is the source, operand 1 the destination.
extern "C" __global__ void ts_copy_strided(int src_dtype, int dst_dtype, ts_strided v, const char *src, char *dst) {
    const int sb = ts_dtype_size(src_dtype), db = ts_dtype_size(dst_dtype);
    TS_GRID_STRIDE(i, v.numel) {
        int64_t off[2];
        ts_strided_offsets(v, i, 2, off);
        ts_convert_elem(src_dtype, src + off[0] * sb, dst_dtype, dst + off[1] * db);
    }
}

extern "C" __global__ void ts_fill(int dtype, int64_t n, double value, char *y) {
    const int b = ts_dtype_size(dtype);
    TS_GRID_STRIDE(i, n) ts_fill_elem(dtype, y + i * b, value);
}
