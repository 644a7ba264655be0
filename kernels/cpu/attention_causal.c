/* Causal self-attention of a block of queries in one pass per (batch, head): softmax(scale q k^T, keys after
 * the query's absolute position left out) v, written straight into the [batch, tq, heads, d] layout the
 * output projection reads. The op-by-op path made two small GEMM calls per head (each waking the BLAS
 * threads), three elementwise passes over the [tq, tk] scores and a copy to merge the heads; here one
 * OpenMP region covers every head and the scores live in a small per-thread buffer (one query per head, a
 * decoding step, goes to the persistent pool instead: decode_task below).
 *
 * Query i (0-based) sees keys 0 .. i + past, past = tk - tq (the keys of earlier positions in a cache).
 * Per head, K is first transposed into [d, tk] scratch so that scores are sums of scaled key rows over
 * contiguous keys (vectorised, no horizontal sums); heads that share their keys (a group of grouped-query attention,
 * or heads passed at stride 0) transpose them once per thread. Queries go QR at a time, so that each key and value
 * row is read once for QR queries: QR x SK tiles of scores, then OR x OC tiles of outputs, whose sums
 * stay in registers (one row at a time, the loop was bound by loading and storing its scores). Each output
 * element sums its terms in key order, as one row at a time would. Sums of the exponentials are float64, as
 * in ts_softmax_f32.
 * Masked keys are left out of every sum, not multiplied by 0: a NaN or infinity in a later position's value
 * never reaches an earlier query, and a NaN score still poisons its own row as it would through softmax.
 * Keys and values are f32, or f16 (ts_causal_attention_f16kv: a half-precision KV cache, half the bytes a decoding
 * step reads), widened as they are read; `type` below is their dtype code, a constant in each specialisation. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "ts_cpu.h"
#include "ts_pool.h"
#include "ts_vec.h"
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

/* Element `offset` of keys or values of dtype `type`. */
static inline const void *kv_at(const void *base, int64_t offset, int type) {
    return (const char *)base + offset * ts_dtype_size(type);
}

/* The cl <= OC elements of a value row from element `offset` as f32: in place when f32, else widened into `row`. */
static inline const float *value_row(const void *v, int64_t offset, int cl, int type, float *restrict row) {
    if (type == TS_F32) return (const float *)v + offset;
    int l = 0;
    for (; l + TS_LANES <= cl; l += TS_LANES) store(row + l, load_widened(v, offset + l, type));
    for (; l < cl; l++) row[l] = scalar_widened(v, offset + l, type);
    return row;
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

/* s[j] = exp(s[j] - max) over n scores, in place; returns their sum, and the maximum in *max. */
static double exp_row(int64_t n, float *restrict s, float *max) {
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
    *max = m;
    return sum;
}

/* Row r's probabilities over its n visible keys, in place (the masked entries are never read after this). */
static void softmax_row(int64_t n, float *restrict s) {
    float max;
    const float inv = (float)(1.0 / exp_row(n, s, &max));
#pragma omp simd
    for (int64_t j = 0; j < n; j++) s[j] *= inv;
}

/* y[r][c0 + l] = sum over row r's visible keys j of s[r][j] v[j][c0 + l], for l < cl and r < rows: row r sees
 * keys 0 .. last0 + r when causal (successive queries), else 0 .. last0 (heads of one query). A full tile takes
 * the keys all its rows see in the register-blocked loop, then the diagonal's few in the general one. */
static inline __attribute__((always_inline)) void tile_outputs(int rows, int64_t last0, int causal, int64_t c0, int cl,
                                                               int64_t tkp, const float *s, const void *v, int64_t vt,
                                                               int type, float *y, int64_t yt) {
    float acc[OR][OC] = {{0}}, row[OC];
    int64_t j = 0;
    if (rows == OR && cl == OC) {
        for (; j <= last0; j++) {
            const float *restrict vj = value_row(v, j * vt + c0, OC, type, row);
            UNROLL_ROWS
            for (int r = 0; r < OR; r++) {
                const float p = s[r * tkp + j];
#pragma omp simd
                for (int l = 0; l < OC; l++) acc[r][l] += p * vj[l];
            }
        }
    }
    for (; j < last0 + (causal ? rows : 1); j++) {
        const float *restrict vj = value_row(v, j * vt + c0, cl, type, row);
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
static inline void transpose_keys(int64_t tk, int64_t d, const void *k, int64_t kt, int type, float *kT) {
    const int64_t tkp = padded_keys(tk);
    for (int64_t c = 0; c < d; c++) {
        for (int64_t j = 0; j < tk; j++) kT[c * tkp + j] = scalar_widened(k, j * kt + c, type);
        for (int64_t j = tk; j < tkp; j++) kT[c * tkp + j] = 0.0f;
    }
}

/* One head's queries against its keys, already transposed into kT; s holds QR rows of scores, qs QR queries. */
static inline __attribute__((always_inline)) void attend_head(int64_t tq, int64_t tk, int64_t d, float scale,
                                                              const float *q, int64_t qt, const float *kT, const void *v,
                                                              int64_t vt, int type, float *y, int64_t yt, float *s,
                                                              float *qs) {
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
                             s + r0 * tkp, v, vt, type, y + (i0 + r0) * yt, yt);
    }
}

/* One query per (batch, head), a decoding step: K's rows are read in place (a transposed copy would double the
 * traffic of a single pass), and the tasks go to the persistent pool (ts_pool.h), not to an OpenMP region, whose
 * passive wake-up cost tens of microseconds on each of a step's dozens of calls. Heads that share their keys and
 * values (a group of grouped-query attention, or heads passed at stride 0) go up to DECODE_HEADS to a task, which
 * reads each key and value row once for all of them. When that leaves fewer tasks than threads (one sequence and one
 * key head), the keys are split as well: each task attends to one run of keys and
 * leaves its unnormalised output, its maximum score and its sum of exponentials, and the runs are combined after
 * (flash decoding's log-sum-exp merge). Splitting the heads instead made every thread read all the keys and values. */
#define DECODE_HEADS 8
#define DECODE_MIN_KEYS 64 /* keys per task at least when the keys are split */

#if defined(__AVX512F__)
/* Lane i of the result: the sum of a[i]'s lanes. A tree of 15 adds over pairs of halves (three shuffles each) and
 * one permutation, where one horizontal sum per vector took four dependent shuffle-adds each. */
static inline __m512 sum_lanes16(const __m512 a[16]) {
    __m512 halves[8], quarters[4], eighths[2];
    for (int i = 0; i < 8; i++) /* 128-bit lanes 0-1: a[2i]'s halves added, 2-3: a[2i + 1]'s */
        halves[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                                  _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
    for (int i = 0; i < 4; i++) /* 128-bit lane l: four partial sums of a[4i + l] */
        quarters[i] = _mm512_add_ps(_mm512_shuffle_f32x4(halves[2 * i], halves[2 * i + 1], 0x88),
                                    _mm512_shuffle_f32x4(halves[2 * i], halves[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; i++) /* lane l, elements 0-1: two of a[8i + l]'s, 2-3: two of a[8i + 4 + l]'s */
        eighths[i] = _mm512_add_ps(_mm512_shuffle_ps(quarters[2 * i], quarters[2 * i + 1], 0x44),
                                   _mm512_shuffle_ps(quarters[2 * i], quarters[2 * i + 1], 0xEE));
    /* element 4l + e: the sum of a[l + 4e] */
    const __m512 sums = _mm512_add_ps(_mm512_shuffle_ps(eighths[0], eighths[1], 0x88),
                                      _mm512_shuffle_ps(eighths[0], eighths[1], 0xDD));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), sums);
}
#endif

/* s[r][j] = sum_c qs[r][c] k[j][c] for the nh queries r against the tk key rows j (stride kt). With AVX-512 and d a
 * multiple of 16, sixteen keys at a time: one vector of products per key summed over d, the sixteen reduced
 * together (sum_lanes16). */
static inline __attribute__((always_inline)) void decode_scores(int nh, int64_t tk, int64_t d, const float *qs,
                                                                const void *k, int64_t kt, int type, float *s) {
    int64_t j = 0;
#if defined(__AVX512F__)
    if (d % 16 == 0)
        for (; j + 16 <= tk; j += 16)
            for (int r = 0; r < nh; r++) {
                __m512 acc[16];
                _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
                for (int64_t c = 0; c < d; c += 16) {
                    const __m512 qc = _mm512_loadu_ps(qs + r * d + c);
                    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++)
                        acc[i] = _mm512_fmadd_ps(qc, (__m512)load_widened(k, (j + i) * kt + c, type), acc[i]);
                }
                _mm512_storeu_ps(s + r * tk + j, sum_lanes16(acc));
            }
#endif
    for (; j < tk; j++) {
        for (int r = 0; r < nh; r++) {
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t c = 0; c < d; c++) sum += qs[r * d + c] * scalar_widened(k, j * kt + c, type);
            s[r * tk + j] = sum;
        }
    }
}

typedef struct {
    int64_t heads, group, per_task, splits, run, tk, d; /* per task: per_task heads against a run of keys (a multiple of 16) */
    float scale;
    const float *q;
    const void *k, *v; /* f32 or f16: the dtype decode_task_f32 / _f16 is specialised for */
    const int64_t *qs, *ks, *vs;
    float *out, *maxes, *scratch; /* per task and head: its output over its run [d], its maximum score, scratch */
    double *sums;                 /* per task and head: the sum of its exponentials */
} decode_job;

static inline __attribute__((always_inline)) void decode_task(const decode_job *job, int64_t task, int type) {
    const int64_t head_sets = (job->heads + job->per_task - 1) / job->per_task, set = task / job->splits;
    const int64_t b = set / head_sets, h0 = set % head_sets * job->per_task, j0 = task % job->splits * job->run, d = job->d;
    const int64_t n = job->tk - j0 < job->run ? job->tk - j0 : job->run; /* this task's keys */
    const int nh = (int)(job->heads - h0 < job->per_task ? job->heads - h0 : job->per_task);
    const void *k = kv_at(job->k, b * job->ks[0] + h0 / job->group * job->ks[1] + j0 * job->ks[2], type);
    const void *v = kv_at(job->v, b * job->vs[0] + h0 / job->group * job->vs[1] + j0 * job->vs[2], type);
    float *s = job->scratch + task * job->per_task * (job->run + d), *qs = s + job->per_task * job->run;
    float *out = job->out + task * job->per_task * d;
    for (int r = 0; r < nh; r++)
        for (int64_t c = 0; c < d; c++) qs[r * d + c] = job->q[b * job->qs[0] + (h0 + r) * job->qs[1] + c] * job->scale;
    decode_scores(nh, n, d, qs, k, job->ks[2], type, s);
    for (int r = 0; r < nh; r++)
        job->sums[task * job->per_task + r] = exp_row(n, s + r * n, job->maxes + task * job->per_task + r);
    for (int r0 = 0; r0 < nh; r0 += OR)
        for (int64_t c0 = 0; c0 < d; c0 += OC)
            tile_outputs(nh - r0 < OR ? nh - r0 : OR, n - 1, 0, c0, d - c0 < OC ? (int)(d - c0) : OC, n, s + r0 * n, v,
                         job->vs[2], type, out + r0 * d, d);
}

/* decode_task specialised per dtype, for the pool. */
static void decode_task_f32(void *job, int64_t task) {
    decode_task(job, task, TS_F32);
}

static void decode_task_f16(void *job, int64_t task) {
    decode_task(job, task, TS_F16);
}

/* y[b][h] from the runs' outputs: each weighted by exp(its maximum - the largest), over the runs' weighted sums. */
static void merge_runs(const decode_job *job, int64_t batch, float *y) {
    const int64_t head_sets = (job->heads + job->per_task - 1) / job->per_task, d = job->d;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < job->heads; h++) {
            const int64_t first = (b * head_sets + h / job->per_task) * job->splits * job->per_task + h % job->per_task;
            float largest = -INFINITY;
            for (int64_t c = 0; c < job->splits; c++) {
                const float m = job->maxes[first + c * job->per_task];
                largest = m > largest ? m : largest;
            }
            double total = 0.0, weight[job->splits];
            for (int64_t c = 0; c < job->splits; c++) {
                weight[c] = job->splits == 1 ? 1.0 : exp((double)job->maxes[first + c * job->per_task] - largest);
                total += weight[c] * job->sums[first + c * job->per_task];
            }
            for (int64_t e = 0; e < d; e++) {
                double sum = 0.0;
                for (int64_t c = 0; c < job->splits; c++) sum += weight[c] * job->out[(first + c * job->per_task) * d + e];
                y[(b * job->heads + h) * d + e] = (float)(sum / total);
            }
        }
}

/* One decoding step's attention (tq = 1, tk >= 1); see decode_task. A task's heads are a divisor of the heads that
 * share keys, so no task spans two key heads. */
static int decode_step(int64_t batch, int64_t heads, int64_t group, int64_t tk, int64_t d, float scale, const float *q,
                       const int64_t *qs, const void *k, const int64_t *ks, const void *v, const int64_t *vs, int type, float *y) {
    const int64_t sharing = ks[1] == 0 && vs[1] == 0 ? heads : group;
    int64_t per_task = sharing < DECODE_HEADS ? sharing : DECODE_HEADS;
    while (sharing % per_task != 0) per_task--;
    const int64_t sets = batch * ((heads + per_task - 1) / per_task), threads = omp_get_max_threads();
    int64_t splits = sets < threads ? (threads + sets - 1) / sets : 1;
    if (splits > tk / DECODE_MIN_KEYS) splits = tk / DECODE_MIN_KEYS > 1 ? tk / DECODE_MIN_KEYS : 1;
    const int64_t run = ((tk + splits - 1) / splits + 15) / 16 * 16; /* whole blocks of sum_lanes16's 16 keys */
    splits = (tk + run - 1) / run;
    const int64_t slots = sets * splits * per_task; /* (task, head) pairs */
    float *buffer = malloc((size_t)(slots * (run + 2 * d + 1)) * sizeof(float));
    double *sums = malloc((size_t)slots * sizeof(double));
    if (!buffer || !sums) {
        free(buffer);
        free(sums);
        return TS_ERR_NOMEM;
    }
    decode_job job = {heads, group, per_task, splits, run, tk, d, scale, q, k, v, qs, ks, vs,
                      buffer, buffer + slots * d, buffer + slots * (d + 1), sums};
    ts_pool_for(sets * splits, type == TS_F16 ? decode_task_f16 : decode_task_f32, &job);
    merge_runs(&job, batch, y);
    free(buffer);
    free(sums);
    return TS_OK;
}

/* The arguments of both entry points; k and v of dtype type. */
typedef struct {
    int64_t batch, heads, group, tq, tk, d;
    float scale;
    const float *q;
    const void *k, *v;
    const int64_t *qs, *ks, *vs;
    int type;
    float *y;
} attention_args;

/* Head `task` (= b * heads + h) of a block of queries, kT [d][tkp] then the scores and queries attend_head needs;
 * *transposed: the keys kT holds, transposed again only when they change. */
static inline __attribute__((always_inline)) void attend_task(const attention_args *a, int64_t task, float *kT,
                                                              const void **transposed, int type) {
    const int64_t b = task / a->heads, h = task % a->heads, tkp = padded_keys(a->tk), d = a->d;
    const void *keys = kv_at(a->k, b * a->ks[0] + h / a->group * a->ks[1], type);
    if (keys != *transposed) {
        transpose_keys(a->tk, d, keys, a->ks[2], type, kT);
        *transposed = keys;
    }
    attend_head(a->tq, a->tk, d, a->scale, a->q + b * a->qs[0] + h * a->qs[1], a->qs[2], kT,
                kv_at(a->v, b * a->vs[0] + h / a->group * a->vs[1], type), a->vs[2], type,
                a->y + (b * a->tq * a->heads + h) * d, a->heads * d, kT + d * tkp, kT + (d + QR) * tkp);
}

/* attend_task specialised per dtype (an OpenMP region is outlined before inlining, so a constant passed into it would
 * not reach its loops). */
static void attend_task_f32(const attention_args *a, int64_t task, float *kT, const void **transposed) {
    attend_task(a, task, kT, transposed, TS_F32);
}

static void attend_task_f16(const attention_args *a, int64_t task, float *kT, const void **transposed) {
    attend_task(a, task, kT, transposed, TS_F16);
}

static int attention(const attention_args *a) {
    const int64_t tasks = a->batch * a->heads, tkp = padded_keys(a->tk), d = a->d;
    if (a->tq == 1 && a->tk > 0)
        return decode_step(a->batch, a->heads, a->group, a->tk, d, a->scale, a->q, a->qs, a->k, a->ks, a->v, a->vs, a->type,
                           a->y);
    void (*task_of_type)(const attention_args *, int64_t, float *, const void **) =
        a->type == TS_F16 ? attend_task_f16 : attend_task_f32;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if (tasks > 1 && tasks * a->tq * a->tk * d >= TS_PARALLEL_MIN)
    {
        /* per thread: K transposed [d][tkp], QR rows of scores [QR][tkp], QR scaled queries [QR][d] */
        float *kT = malloc((size_t)((d + QR) * tkp + QR * d) * sizeof(float));
        if (!kT) failed = 1;
        const void *transposed = NULL; /* the keys kT holds */
#pragma omp for schedule(static)
        for (int64_t task = 0; task < tasks; task++) {
            if (kT) task_of_type(a, task, kT, &transposed);
        }
        free(kT);
    }
    return failed ? TS_ERR_NOMEM : TS_OK;
}

int TS_FN(ts_causal_attention_f32)(int64_t batch, int64_t heads, int64_t group, int64_t tq, int64_t tk, int64_t d,
                                   float scale, const float *q, const int64_t *qs, const float *k, const int64_t *ks,
                                   const float *v, const int64_t *vs, float *y) {
    return attention(&(attention_args){batch, heads, group, tq, tk, d, scale, q, k, v, qs, ks, vs, TS_F32, y});
}

int TS_FN(ts_causal_attention_f16kv)(int64_t batch, int64_t heads, int64_t group, int64_t tq, int64_t tk, int64_t d,
                                     float scale, const float *q, const int64_t *qs, const uint16_t *k, const int64_t *ks,
                                     const uint16_t *v, const int64_t *vs, float *y) {
    return attention(&(attention_args){batch, heads, group, tq, tk, d, scale, q, k, v, qs, ks, vs, TS_F16, y});
}
