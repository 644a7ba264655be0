// Rotary position embedding, rotate-half convention (as kernels/cpu/rope.c): x, y [rows, heads, d] contiguous, row r at
// position pos[r] (checked by Java against the cos / sin tables [positions, d]); one thread per (row, head, i < d / 2)
// pair of outputs, so consecutive threads read consecutive elements of both halves. `inverse`: the backward rotation.
#include "grid.cuh"

extern "C" __global__ void ts_rope_f32(int64_t rows, int64_t heads, int64_t d, const float *x, const float *cos_table,
                                       const float *sin_table, const int64_t *pos, int inverse, float *y) {
    const int64_t half = d / 2;
    const float sign = inverse ? -1.0f : 1.0f;
    TS_GRID_STRIDE(e, rows * heads * half) {
        const int64_t i = e % half, rh = e / half, r = rh / heads;
        const float *c = cos_table + pos[r] * d, *s = sin_table + pos[r] * d;
        const float x1 = x[rh * d + i], x2 = x[rh * d + i + half];
        y[rh * d + i] = x1 * c[i] - sign * x2 * s[i];
        y[rh * d + i + half] = x2 * c[i + half] + sign * x1 * s[i + half];
    }
}
