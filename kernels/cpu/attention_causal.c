/* Causal self-attention of a block of queries in one pass per (batch, head): softmax(scale q k^T, keys after
 * the query's absolute position left out) v, written straight into the [batch, tq, heads, d] layout the
 * output projection reads. The op-by-op path made two small GEMM calls per head (each waking the BLAS
 * threads), three elementwise passes over the [tq, tk] scores and a copy to merge the heads; here one
 * OpenMP region covers every head and the scores of a row live in a small per-thread buffer.
 *
 * Query i (0-based) sees keys 0 .. i + past, past = tk - tq (the keys of earlier positions in a cache).
 * Per head, K is first transposed into [d, tk] scratch so that a row's scores are axpys over contiguous
 * keys (vectorised, no horizontal sums); probabilities times V are axpys over the head dim. Sums of the
 * exponentials are float64, as in ts_softmax_f32. Masked keys are skipped, not set to -inf: the same
 * result (exp(-inf) = 0), and a NaN score still poisons its row as it would through softmax. */
#include <stdlib.h>

#include "ts_cpu.h"
#include "ts_vexp.h"

static void attend_head(int64_t tq, int64_t tk, int64_t d, float scale, const float *q, int64_t qt, const float *k,
                        int64_t kt, const float *v, int64_t vt, float *y, int64_t yt, float *kT, float *s) {
    const int64_t past = tk - tq;
    for (int64_t j = 0; j < tk; j++) {
        for (int64_t c = 0; c < d; c++) {
            kT[c * tk + j] = k[j * kt + c];
        }
    }
    for (int64_t i = 0; i < tq; i++) {
        const int64_t n = i + past + 1; /* keys this query sees */
        const float *restrict qi = q + i * qt;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            s[j] = 0.0f;
        }
        for (int64_t c = 0; c < d; c++) {
            const float a = qi[c] * scale;
            const float *restrict kc = kT + c * tk;
#pragma omp simd
            for (int64_t j = 0; j < n; j++) {
                s[j] += a * kc[j];
            }
        }
        float m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int64_t j = 0; j < n; j++) {
            m = s[j] > m ? s[j] : m;
        }
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < n; j++) {
            const float e = ts_vexpf(s[j] - m);
            s[j] = e;
            sum += (double)e;
        }
        const float inv = (float)(1.0 / sum);
        float *restrict yi = y + i * yt;
#pragma omp simd
        for (int64_t c = 0; c < d; c++) {
            yi[c] = 0.0f;
        }
        for (int64_t j = 0; j < n; j++) {
            const float p = s[j] * inv;
            const float *restrict vj = v + j * vt;
#pragma omp simd
            for (int64_t c = 0; c < d; c++) {
                yi[c] += p * vj[c];
            }
        }
    }
}

int TS_FN(ts_causal_attention_f32)(int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d, float scale,
                                   const float *q, const int64_t *qs, const float *k, const int64_t *ks, const float *v,
                                   const int64_t *vs, float *y) {
    const int64_t tasks = batch * heads;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if (tasks > 1 && tasks * tq * tk * d >= TS_PARALLEL_MIN)
    {
        float *kT = malloc((size_t)(d * tk + tk) * sizeof(float)); /* K transposed, then one row's scores */
        if (!kT) failed = 1;
#pragma omp for schedule(static)
        for (int64_t task = 0; task < tasks; task++) {
            if (!kT) continue;
            const int64_t b = task / heads, h = task % heads;
            attend_head(tq, tk, d, scale, q + b * qs[0] + h * qs[1], qs[2], k + b * ks[0] + h * ks[1], ks[2],
                        v + b * vs[0] + h * vs[1], vs[2], y + (b * tq * heads + h) * d, heads * d, kT, kT + d * tk);
        }
        free(kT);
    }
    return failed ? TS_ERR_NOMEM : TS_OK;
}
