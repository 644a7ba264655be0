/* Causal self-attention of a block of queries in one pass per (batch, head): softmax(scale q k^T, keys after
 * the query's absolute position left out) v, written straight into the [batch, tq, heads, d] layout the
 * output projection reads. The op-by-op path made two small GEMM calls per head (each waking the BLAS
 * threads), three elementwise passes over the [tq, tk] scores and a copy to merge the heads; here one
 * OpenMP region covers every head and the scores live in a small per-thread buffer (one query per head, a
 * decoding step, goes to the persistent pool instead: decode_task below).
 *
 * Query i (0-based) sees keys 0 .. i + past, past = tk - tq (the keys of earlier positions in a cache).
 * Per head, K is first transposed into [d, tk] scratch so that scores are sums of scaled key rows over
 * contiguous keys (vectorised, no horizontal sums); heads that share their keys (grouped-query attention
 * passes them at stride 0) transpose them once per thread. Queries go QR at a time, so that each key and
 * value row is read once for QR queries: QR x SK tiles of scores, then OR x OC tiles of outputs, whose sums
 * stay in registers (one row at a time, the loop was bound by loading and storing its scores). Each output
 * element sums its terms in key order, as one row at a time would. Sums of the exponentials are float64, as
 * in ts_softmax_f32.
 * Masked keys are left out of every sum, not multiplied by 0: a NaN or infinity in a later position's value
 * never reaches an earlier query, and a NaN score still poisons its own row as it would through softmax. */
#include <stdlib.h>

#include "ts_cpu.h"
#include "ts_pool.h"
#include "ts_vexp.h"

/* Tiles sized so their sums fill the vector registers without spilling: 16 accumulators on AVX-512 (32
 * registers of 16 floats), 8 on the narrower tiers (16 registers of 8 floats). With fewer, each sum's FMA
 * waited on the previous one's (4 cycles of latency) and the loops ran at half the FMA rate. */
#if defined(__AVX512F__)
#define QR 8 /* queries per tile */
#define SK 32 /* keys per tile of scores (two vectors) */
#define OC 64 /* head dims per tile of outputs (four vectors) */
#else
#define QR 4
#define SK 16
#define OC 16
#endif
#define OR 4 /* queries per tile of outputs */
#define UNROLL_ROWS _Pragma("GCC unroll 8")

/* tk rounded up to whole tiles of SK keys: the row length tkp of K transposed (zero-padded) and of the scores. */
static int64_t padded_keys(int64_t tk) {
    return (tk + SK - 1) / SK * SK;
}

/* s[r][j] = sum_c qs[r][c] kT[c][j] for j < nmax (rounded up to SK; kT's padding columns are zero). */
static void tile_scores(int64_t nmax, int64_t d, int64_t tkp, const float *kT, const float *qs, float *s) {
    for (int64_t j0 = 0; j0 < nmax; j0 += SK) {
        float acc[QR][SK] = {{0}};
        for (int64_t c = 0; c < d; c++) {
            const float *restrict kc = kT + c * tkp + j0;
            UNROLL_ROWS
            for (int r = 0; r < QR; r++) {
                const float a = qs[r * d + c];
#pragma omp simd
                for (int l = 0; l < SK; l++) acc[r][l] += a * kc[l];
            }
        }
        UNROLL_ROWS
        for (int r = 0; r < QR; r++) {
#pragma omp simd
            for (int l = 0; l < SK; l++) s[r * tkp + j0 + l] = acc[r][l];
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
 * keys 0 .. last0 + r when causal (successive queries), else 0 .. last0 (heads of one query). A full tile takes
 * the keys all its rows see in the register-blocked loop, then the diagonal's few in the general one. */
static void tile_outputs(int rows, int64_t last0, int causal, int64_t c0, int cl, int64_t tkp, const float *s,
                         const float *v, int64_t vt, float *y, int64_t yt) {
    float acc[OR][OC] = {{0}};
    int64_t j = 0;
    if (rows == OR && cl == OC) {
        for (; j <= last0; j++) {
            const float *restrict vj = v + j * vt + c0;
            UNROLL_ROWS
            for (int r = 0; r < OR; r++) {
                const float p = s[r * tkp + j];
#pragma omp simd
                for (int l = 0; l < OC; l++) acc[r][l] += p * vj[l];
            }
        }
    }
    for (; j < last0 + (causal ? rows : 1); j++) {
        const float *restrict vj = v + j * vt + c0;
        for (int r = j <= last0 ? 0 : (int)(j - last0); r < rows; r++) {
            const float p = s[r * tkp + j];
#pragma omp simd
            for (int l = 0; l < cl; l++) acc[r][l] += p * vj[l];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int l = 0; l < cl; l++) y[r * yt + c0 + l] = acc[r][l];
}

/* kT[c][j] = k[j][c] for j < tk, and 0 up to tkp. */
static void transpose_keys(int64_t tk, int64_t d, const float *k, int64_t kt, float *kT) {
    const int64_t tkp = padded_keys(tk);
    for (int64_t c = 0; c < d; c++) {
        for (int64_t j = 0; j < tk; j++) kT[c * tkp + j] = k[j * kt + c];
        for (int64_t j = tk; j < tkp; j++) kT[c * tkp + j] = 0.0f;
    }
}

/* One head's queries against its keys, already transposed into kT; s holds QR rows of scores, qs QR queries. */
static void attend_head(int64_t tq, int64_t tk, int64_t d, float scale, const float *q, int64_t qt, const float *kT,
                        const float *v, int64_t vt, float *y, int64_t yt, float *s, float *qs) {
    const int64_t past = tk - tq, tkp = padded_keys(tk);
    for (int64_t i0 = 0; i0 < tq; i0 += QR) {
        const int rows = tq - i0 < QR ? (int)(tq - i0) : QR;
        const int64_t last0 = i0 + past; /* the last key the tile's first query sees */
        for (int r = 0; r < QR; r++)
            for (int64_t c = 0; c < d; c++) qs[r * d + c] = r < rows ? q[(i0 + r) * qt + c] * scale : 0.0f;
        tile_scores(last0 + rows, d, tkp, kT, qs, s);
        for (int r = 0; r < rows; r++) softmax_row(last0 + r + 1, s + r * tkp);
        for (int r0 = 0; r0 < rows; r0 += OR)
            for (int64_t c0 = 0; c0 < d; c0 += OC)
                tile_outputs(rows - r0 < OR ? rows - r0 : OR, last0 + r0, 1, c0, d - c0 < OC ? (int)(d - c0) : OC, tkp,
                             s + r0 * tkp, v, vt, y + (i0 + r0) * yt, yt);
    }
}

/* One query per (batch, head), a decoding step: K's rows are read in place (a transposed copy would double the
 * traffic of a single pass), and the tasks go to the persistent pool (ts_pool.h), not to an OpenMP region, whose
 * passive wake-up cost tens of microseconds on each of a step's dozens of calls. Heads that share their keys and
 * values (grouped-query attention passes them at stride 0) go DECODE_HEADS to a task, which reads each key and
 * value row once for all of them; one head per task read them once per head. */
#define DECODE_HEADS OR

typedef struct {
    int64_t heads, per_task, tk, d; /* per_task: heads per task */
    float scale;
    const float *q, *k, *v;
    const int64_t *qs, *ks, *vs;
    float *y, *scratch; /* per task: per_task rows of tk scores and of d scaled query values */
} decode_job;

static void decode_task(void *ctx, int64_t task) {
    const decode_job *job = ctx;
    const int64_t tasks_per_row = (job->heads + job->per_task - 1) / job->per_task;
    const int64_t b = task / tasks_per_row, h0 = task % tasks_per_row * job->per_task, tk = job->tk, d = job->d;
    const int nh = (int)(job->heads - h0 < job->per_task ? job->heads - h0 : job->per_task);
    const float *k = job->k + b * job->ks[0] + h0 * job->ks[1];
    float *s = job->scratch + task * job->per_task * (tk + d), *qs = s + job->per_task * tk;
    for (int r = 0; r < nh; r++)
        for (int64_t c = 0; c < d; c++) qs[r * d + c] = job->q[b * job->qs[0] + (h0 + r) * job->qs[1] + c] * job->scale;
    for (int64_t j = 0; j < tk; j++) {
        const float *restrict kj = k + j * job->ks[2];
        for (int r = 0; r < nh; r++) {
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t c = 0; c < d; c++) sum += qs[r * d + c] * kj[c];
            s[r * tk + j] = sum;
        }
    }
    for (int r = 0; r < nh; r++) softmax_row(tk, s + r * tk);
    for (int64_t c0 = 0; c0 < d; c0 += OC)
        tile_outputs(nh, tk - 1, 0, c0, d - c0 < OC ? (int)(d - c0) : OC, tk, s, job->v + b * job->vs[0] + h0 * job->vs[1],
                     job->vs[2], job->y + (b * job->heads + h0) * d, d);
}

int TS_FN(ts_causal_attention_f32)(int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d, float scale,
                                   const float *q, const int64_t *qs, const float *k, const int64_t *ks, const float *v,
                                   const int64_t *vs, float *y) {
    const int64_t tasks = batch * heads, tkp = padded_keys(tk);
    if (tq == 1 && tk > 0) {
        const int64_t per_task = ks[1] == 0 && vs[1] == 0 ? DECODE_HEADS : 1;
        const int64_t decode_tasks = batch * ((heads + per_task - 1) / per_task);
        float *scratch = malloc((size_t)(decode_tasks * per_task * (tk + d)) * sizeof(float));
        if (!scratch) return TS_ERR_NOMEM;
        decode_job job = {heads, per_task, tk, d, scale, q, k, v, qs, ks, vs, y, scratch};
        ts_pool_for(decode_tasks, decode_task, &job);
        free(scratch);
        return TS_OK;
    }
    int failed = 0;
#pragma omp parallel reduction(| : failed) if (tasks > 1 && tasks * tq * tk * d >= TS_PARALLEL_MIN)
    {
        /* per thread: K transposed [d][tkp], QR rows of scores [QR][tkp], QR scaled queries [QR][d] */
        float *kT = malloc((size_t)((d + QR) * tkp + QR * d) * sizeof(float));
        if (!kT) failed = 1;
        const float *transposed = NULL; /* the keys kT holds */
#pragma omp for schedule(static)
        for (int64_t task = 0; task < tasks; task++) {
            if (!kT) continue;
            const int64_t b = task / heads, h = task % heads;
            const float *keys = k + b * ks[0] + h * ks[1];
            if (keys != transposed) {
                transpose_keys(tk, d, keys, ks[2], kT);
                transposed = keys;
            }
            attend_head(tq, tk, d, scale, q + b * qs[0] + h * qs[1], qs[2], kT, v + b * vs[0] + h * vs[1], vs[2],
                        y + (b * tq * heads + h) * d, heads * d, kT + d * tkp, kT + (d + QR) * tkp);
        }
        free(kT);
    }
    return failed ? TS_ERR_NOMEM : TS_OK;
}
