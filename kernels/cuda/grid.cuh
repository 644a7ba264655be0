// Loop shapes shared by the kernels. Java sizes grids from the device's properties and may launch fewer
// threads or blocks than there is work, so every kernel strides over its work.
#ifndef TESSERA_GRID_CUH
#define TESSERA_GRID_CUH

#include <stdint.h>

// i runs over [0, n), each index exactly once over the whole grid.
#define TS_GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// r runs over [0, rows), one row per block at a time; all threads of a block see the same rows, so the
// body may synchronise.
#define TS_BLOCK_ROWS(r, rows) for (int64_t r = blockIdx.x; r < (rows); r += gridDim.x)

// j runs over [0, cols) within the block.
#define TS_BLOCK_COLS(j, cols) for (int64_t j = threadIdx.x; j < (cols); j += blockDim.x)

#endif
