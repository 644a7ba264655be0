/* Rotary position embedding in the rotate-half convention (Hugging Face's LLaMA): for x [rows, heads, d]
 * contiguous, each row r at position pos[r] (Java checked it against the table), and each head's halves
 * x1 = x[:d/2], x2 = x[d/2:],
 *   y = x * cos[pos] + rotate_half(x) * sin[pos],  rotate_half(x) = [-x2, x1],
 * with cos, sin [positions, d] (their halves equal, as HF builds them). With `inverse` the rotation runs backwards,
 * y = x * cos - rotate_half(x) * sin, which is also the gradient of the forward rotation (its transpose).
 * One pass instead of the five ops (neg, cat, mul, mul, add) and four temporaries of the op path. */
#include "ts_cpu.h"

/* Row r (every head) of ts_rope_f32. */
static inline void rope_row(int64_t r, int64_t heads, int64_t d, const float *restrict x, const float *restrict cos_table,
                            const float *restrict sin_table, const int64_t *restrict pos, float sign, float *restrict y) {
    const int64_t half = d / 2;
    const float *restrict c = cos_table + pos[r] * d;
    const float *restrict s = sin_table + pos[r] * d;
    for (int64_t h = 0; h < heads; h++) {
        const float *restrict xh = x + (r * heads + h) * d;
        float *restrict yh = y + (r * heads + h) * d;
#pragma omp simd
        for (int64_t i = 0; i < half; i++) {
            const float x1 = xh[i], x2 = xh[i + half];
            yh[i] = x1 * c[i] - sign * x2 * s[i];
            yh[i + half] = x2 * c[i + half] + sign * x1 * s[i + half];
        }
    }
}

int TS_FN(ts_rope_f32)(int64_t rows, int64_t heads, int64_t d, const float *restrict x, const float *restrict cos_table,
                       const float *restrict sin_table, const int64_t *restrict pos, int inverse, float *restrict y) {
    const float sign = inverse ? -1.0f : 1.0f;
    TS_PARALLEL_FOR_IF(rows * heads * d >= TS_PARALLEL_MIN, omp parallel for schedule(static), r, rows,
                       { rope_row(r, heads, d, x, cos_table, sin_table, pos, sign, y); });
    return TS_OK;
}
