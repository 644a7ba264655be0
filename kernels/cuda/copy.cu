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

// y [cols, rows] = x [rows, cols]^T for contiguous F32, one 32 x 32 tile per block at a time: the block reads a
// tile along x's rows into shared memory and writes it along y's rows, so loads and stores both coalesce (a
// strided copy would read or write 32 sectors per warp). blockDim.x is a multiple of 32. ts_sampled_matmul_f32
// reads its operands transposed.
#define TS_TILE 32
extern "C" __global__ void ts_transpose_f32(int64_t rows, int64_t cols, const float *x, float *y) {
    __shared__ float tile[TS_TILE][TS_TILE + 1];  // + 1: a tile column spans all 32 banks
    const int64_t tile_cols = (cols + TS_TILE - 1) / TS_TILE;
    const unsigned lane = threadIdx.x % TS_TILE, first = threadIdx.x / TS_TILE, step = blockDim.x / TS_TILE;
    TS_BLOCK_ROWS(t, (rows + TS_TILE - 1) / TS_TILE * tile_cols) {
        const int64_t r0 = t / tile_cols * TS_TILE, c0 = t % tile_cols * TS_TILE;
        for (unsigned i = first; i < TS_TILE; i += step) {
            if (r0 + i < rows && c0 + lane < cols) tile[i][lane] = x[(r0 + i) * cols + c0 + lane];
        }
        __syncthreads();
        for (unsigned i = first; i < TS_TILE; i += step) {
            if (c0 + i < cols && r0 + lane < rows) y[(c0 + i) * rows + r0 + lane] = tile[lane][i];
        }
        __syncthreads();  // the tile is reused by the block's next one
    }
}
