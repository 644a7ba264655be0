/* Causal self-attention of a block of queries in one pass per (batch, head): softmax(scale q k^T, keys after
 * the query's absolute position left out) v, written straight into the [batch, tq, heads, d] layout the
 * output projection reads. The op-by-op path made two small GEMM calls per head (each waking the BLAS
 * threads), three elementwise passes over the [tq, tk] scores and a copy to merge the heads; here one
 * OpenMP region covers every head and the scores live in a small per-thread buffer.
 *
 * Query i (0-based) sees keys 0 .. i + past, past = tk - tq (the keys of earlier positions in a cache).
 * Per head, K is first transposed into [d, tk] scratch so that scores are sums of scaled key rows over
 * contiguous keys (vectorised, no horizontal sums). Queries go QR at a time, so that each key and value row
 * is read once for QR queries: QR x KL tiles of scores, then of outputs, whose sums stay in registers (one
 * row at a time, the loop was bound by loading and storing its scores). Each output element sums its terms
 * in the same order as one row at a time would. Sums of the exponentials are float64, as in ts_softmax_f32.
 * Masked keys are left out of every sum, not multiplied by 0: a NaN or infinity in a later position's value
 * never reaches an earlier query, and a NaN score still poisons its own row as it would through softmax. */
#include <stdlib.h>

#include "ts_cpu.h"
#include "ts_vexp.h"

#define QR 4 /* queries per tile */
#define KL 16 /* keys, or head dims, per tile: a vector of floats on AVX-512 */
#define QR_UNROLL _Pragma("GCC unroll 4")

/* tk rounded up to whole tiles of KL keys: the row length tkp of K transposed (zero-padded) and of the scores. */
static int64_t padded_keys(int64_t tk) {
    return (tk + KL - 1) / KL * KL;
}

/* s[r][j] = sum_c qs[r][c] kT[c][j] for j < nmax (rounded up to KL; kT's padding columns are zero). */
static void tile_scores(int64_t nmax, int64_t d, int64_t tkp, const float *kT, const float *qs, float *s) {
    for (int64_t j0 = 0; j0 < nmax; j0 += KL) {
        float acc[QR][KL] = {{0}};
        for (int64_t c = 0; c < d; c++) {
            const float *restrict kc = kT + c * tkp + j0;
            QR_UNROLL
            for (int r = 0; r < QR; r++) {
                const float a = qs[r * d + c];
#pragma omp simd
                for (int l = 0; l < KL; l++) acc[r][l] += a * kc[l];
            }
        }
        QR_UNROLL
        for (int r = 0; r < QR; r++) {
#pragma omp simd
            for (int l = 0; l < KL; l++) s[r * tkp + j0 + l] = acc[r][l];
        }
    }
}

/* Row r's probabilities over its n visible keys, in place (the masked entries are never read after this). */
static void softmax_row(int64_t n, float *restrict s) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; j++) {
        const float e = ts_vexpf(s[j] - m);
        s[j] = e;
        sum += (double)e;
    }
    const float inv = (float)(1.0 / sum);
#pragma omp simd
    for (int64_t j = 0; j < n; j++) s[j] *= inv;
}

/* y[r][c0 + l] = sum over row r's visible keys j of s[r][j] v[j][c0 + l], for l < cl and r < rows: row r sees
 * keys 0 .. last0 + r. */
static void tile_outputs(int rows, int64_t last0, int64_t c0, int cl, int64_t tkp, const float *s, const float *v,
                         int64_t vt, float *y, int64_t yt) {
    float acc[QR][KL] = {{0}};
    for (int64_t j = 0; j < last0 + rows; j++) {
        const float *restrict vj = v + j * vt + c0;
        const int r0 = j <= last0 ? 0 : (int)(j - last0); /* the first row that sees key j */
        if (cl == KL && r0 == 0 && rows == QR) {
            QR_UNROLL
            for (int r = 0; r < QR; r++) {
                const float p = s[r * tkp + j];
#pragma omp simd
                for (int l = 0; l < KL; l++) acc[r][l] += p * vj[l];
            }
        } else {
            for (int r = r0; r < rows; r++) {
                const float p = s[r * tkp + j];
                for (int l = 0; l < cl; l++) acc[r][l] += p * vj[l];
            }
        }
    }
    for (int r = 0; r < rows; r++)
        for (int l = 0; l < cl; l++) y[r * yt + c0 + l] = acc[r][l];
}

static void attend_head(int64_t tq, int64_t tk, int64_t d, float scale, const float *q, int64_t qt, const float *k,
                        int64_t kt, const float *v, int64_t vt, float *y, int64_t yt, float *scratch) {
    const int64_t past = tk - tq, tkp = padded_keys(tk);
    float *kT = scratch, *s = kT + d * tkp, *qs = s + QR * tkp;
    for (int64_t c = 0; c < d; c++) {
        for (int64_t j = 0; j < tk; j++) kT[c * tkp + j] = k[j * kt + c];
        for (int64_t j = tk; j < tkp; j++) kT[c * tkp + j] = 0.0f;
    }
    for (int64_t i0 = 0; i0 < tq; i0 += QR) {
        const int rows = tq - i0 < QR ? (int)(tq - i0) : QR;
        const int64_t last0 = i0 + past; /* the last key the tile's first query sees */
        for (int r = 0; r < QR; r++)
            for (int64_t c = 0; c < d; c++) qs[r * d + c] = r < rows ? q[(i0 + r) * qt + c] * scale : 0.0f;
        tile_scores(last0 + rows, d, tkp, kT, qs, s);
        for (int r = 0; r < rows; r++) softmax_row(last0 + r + 1, s + r * tkp);
        for (int64_t c0 = 0; c0 < d; c0 += KL)
            tile_outputs(rows, last0, c0, d - c0 < KL ? (int)(d - c0) : KL, tkp, s, v, vt, y + i0 * yt, yt);
    }
}

int TS_FN(ts_causal_attention_f32)(int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d, float scale,
                                   const float *q, const int64_t *qs, const float *k, const int64_t *ks, const float *v,
                                   const int64_t *vs, float *y) {
    const int64_t tasks = batch * heads;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if (tasks > 1 && tasks * tq * tk * d >= TS_PARALLEL_MIN)
    {
        /* per thread: K transposed [d][tkp], QR rows of scores [QR][tkp], QR scaled queries [QR][d] */
        float *kT = malloc((size_t)((d + QR) * padded_keys(tk) + QR * d) * sizeof(float));
        if (!kT) failed = 1;
#pragma omp for schedule(static)
        for (int64_t task = 0; task < tasks; task++) {
            if (!kT) continue;
            const int64_t b = task / heads, h = task % heads;
            attend_head(tq, tk, d, scale, q + b * qs[0] + h * qs[1], qs[2], k + b * ks[0] + h * ks[1], ks[2],
                        v + b * vs[0] + h * vs[1], vs[2], y + (b * tq * heads + h) * d, heads * d, kT);
        }
        free(kT);
    }
    return failed ? TS_ERR_NOMEM : TS_OK;
}
