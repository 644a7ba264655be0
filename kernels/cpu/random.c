/* Counter-based random draws (Philox4x32-10, tessera/ts_philox.h, shared with the CUDA kernel):
 * element i of a draw depends only on (seed, offset, i), so any thread may compute any block and a
 * slice of a draw equals a draw at a later offset. Uniforms: 4 per block, in [0, 1). Normals: 2 per
 * block (Box-Muller on words 0 and 1). A block costs ten rounds of two 32x32->64 multiplies (and a
 * normal pair a logf, sinf and cosf), far more than a copied float, so the OpenMP thresholds are lower
 * than TS_PARALLEL_MIN elements: 8192 elements either way. */
#include "tessera/ts_philox.h"
#include "ts_cpu.h"

int TS_FN(ts_philox_f32)(int64_t n, uint64_t seed, uint64_t offset, int normal, float *restrict y) {
    if (normal) {
        const int64_t blocks = n / 2;
#pragma omp parallel for schedule(static) if (blocks >= TS_PARALLEL_MIN / 8) /* 4096 pairs */
        for (int64_t b = 0; b < blocks; b++) {
            const ts_u32x4 w = ts_philox_block(seed, offset + (uint64_t)b);
            ts_philox_normal2(w.x[0], w.x[1], &y[2 * b], &y[2 * b + 1]);
        }
        if (n & 1) {
            const ts_u32x4 w = ts_philox_block(seed, offset + (uint64_t)blocks);
            float z1;
            ts_philox_normal2(w.x[0], w.x[1], &y[n - 1], &z1);
        }
    } else {
        const int64_t blocks = n / 4;
#pragma omp parallel for simd schedule(static) if (blocks >= TS_PARALLEL_MIN / 16) /* 2048 quads */
        for (int64_t b = 0; b < blocks; b++) {
            const ts_u32x4 w = ts_philox_block(seed, offset + (uint64_t)b);
            for (int k = 0; k < 4; k++) y[4 * b + k] = ts_philox_uniform(w.x[k]);
        }
        const int64_t rest = n - 4 * blocks;
        if (rest) {
            const ts_u32x4 w = ts_philox_block(seed, offset + (uint64_t)blocks);
            for (int64_t k = 0; k < rest; k++) y[4 * blocks + k] = ts_philox_uniform(w.x[k]);
        }
    }
    return TS_OK;
}
