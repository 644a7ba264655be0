// Philox4x32-10 draws with the stream layout of tessera/ts_philox.h, shared with kernels/cpu/random.c, so
// both devices draw the same numbers for (seed, offset, i): one thread per Philox block.
#include <stdint.h>

#include "grid.cuh"
#include "tessera/ts_philox.h"

extern "C" __global__ void ts_philox_f32(int64_t n, uint64_t seed, uint64_t offset, int normal, float *y) {
    const int per_block = normal ? 2 : 4;
    TS_GRID_STRIDE(b, (n + per_block - 1) / per_block) {
        const ts_u32x4 w = ts_philox_block(seed, offset + (uint64_t)b);
        const int64_t first = b * per_block;
        if (normal) {
            float z0, z1;
            ts_philox_normal2(w.x[0], w.x[1], &z0, &z1);
            y[first] = z0;
            if (first + 1 < n) y[first + 1] = z1;
        } else {
            for (int k = 0; k < 4 && first + k < n; k++) y[first + k] = ts_philox_uniform(w.x[k]);
        }
    }
}
