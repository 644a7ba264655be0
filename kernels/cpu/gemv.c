/* y = x W for a few rows of x (m <= TS_GEMV_MAX_ROWS: decoding, batch 1-16), where streaming W once is the
 * whole cost, so the only aims are to read W at memory speed on every core and to start fast: chunks of W go
 * to the persistent pool (ts_pool.h), not to an OpenMP region or OpenBLAS's threads.
 * Two weight layouts, both used as stored:
 *  - output-major W [n, k] (torch.nn.Linear, tied LM heads): each output is a dot product of a W row with
 *    x; four W rows at a time against the rows of x four at a time (twelve against one for short bf16 or f16 rows);
 *    chunks of output columns;
 *  - input-major W [k, n] (GPT-2's Conv1D): y[c] += x[i] W[i, c] over the rows i of W, four at a time;
 *    chunks of rows of W, each summed into a partial y of its own, added up at the end.
 * W is f32, or bf16 or f16 widened on the fly (a bf16's 16 bits are the high half of an f32; f16 by vcvtph2ps where
 * the tier has F16C), so a half-precision weight is read at half the bytes with no f32 copy anywhere; sums are f32
 * whatever the weight. */
#include "ts_cpu.h"
#include "ts_pool.h"
#include "ts_vec.h"
#include "tessera/ts_convert.h"

#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

/* Below this many multiply-adds the caller's thread alone is faster than handing out chunks. */
#define GEMV_PARALLEL_MIN (1 << 16)
#define TS_GEMV_MAX_ROWS 16 /* the largest m; Java checks it (CpuBackend.GEMV_MAX_ROWS) */
/* The tunables below are #ifndef so that bench/gemv-step can build the kernel with other values.
 * About this many bytes of an output-major W per chunk: long enough to stream, small enough to balance. */
#ifndef GEMV_CHUNK_BYTES
#define GEMV_CHUNK_BYTES (64 << 10)
#endif
/* With one row of x, rows of W up to this many bytes are read one at a time (dot_row, f32 only; axpy_chunk), longer
 * ones four at a time: GPT-2's 768 floats (3 KiB) one at a time, TinyLlama's 2048 bf16 (4 KiB) four at a time (43-44
 * against 42 GB/s one at a time, with the prefetches below). */
#ifndef SHORT_ROW_BYTES
#define SHORT_ROW_BYTES 3072
#endif
/* Software prefetches of W go to L2 (prefetcht1), not L1: alternating with a 1 GiB sum in a C harness on 2 Zen 4 cores
 * (the sum at 55-60 GB/s), a decoding step's matrices of TinyLlama's f32 weights read at 50-52 GB/s against 41-42 with
 * prefetcht0, GPT-2's bf16 ones at 42-43 against 36. (When the machine's bandwidth is in its slow phase, ~35 GB/s,
 * both read at it.) */
#define PREFETCH_W(p) __builtin_prefetch((p), 0, 2)
/* f32 rows read one at a time prefetch this far ahead (GPT-2's f32 weights: 43-44 against 41 GB/s without it); bf16
 * rows do not (38-40 against 42-43 with it). */
#ifndef SHORT_ROW_PREFETCH_BYTES
#define SHORT_ROW_PREFETCH_BYTES 1024
#endif
/* Output-major tiles prefetch the rows about this many bytes ahead (whole tiles, at least the next one). On the Zen 5
 * CI machine, alternated with a 1 GiB sum in a C harness: TinyLlama's bf16 matrices 1.03-1.07x faster than prefetching
 * the next tile only (58 against 53 GB/s at best), GPT-2's f32 ones 1.19x, its bf16 ones 1.18x; TinyLlama's f32 1.02x
 * in a slow phase; 64 KiB ahead read the same to within 1%. */
#ifndef PREFETCH_AHEAD_BYTES
#define PREFETCH_AHEAD_BYTES (128 << 10)
#endif
/* One row of x against half-precision W rows of at most this many bytes (GPT-2's 768 inputs, 1.5 KiB): WIDE_TILE rows
 * of W at a time (dot_wide_tile), not four. */
#ifndef WIDE_ROW_BYTES
#define WIDE_ROW_BYTES 2048
#endif
#define WIDE_TILE 12
#define GEMV_K_SPLITS 8 /* input-major: the rows of W in this many chunks, each summed into its own partial y */

/* `type`, below: the weight's dtype code (ts_ops.h), TS_F32, TS_BF16 or TS_F16; each pool function is specialised for
 * one (a constant), so its loads are. */
/* The prefetch of an f32 row read one at a time, at element i of W; nothing for half-precision rows. */
static inline void prefetch_short_row(const void *w, int64_t i, int type) {
    if (type == TS_F32) PREFETCH_W((const char *)((const float *)w + i) + SHORT_ROW_PREFETCH_BYTES);
}

/* Whether rows of `elements` weights are short enough to read one at a time (SHORT_ROW_BYTES). */
static inline int short_rows(int64_t elements, int type) {
    return elements * ts_dtype_size(type) <= SHORT_ROW_BYTES;
}

typedef struct {
    int64_t m, n, k;
    const float *x;
    int64_t ldx;
    const void *w; /* f32, bf16 or f16 */
    int64_t ldw;
    float *y;
    int64_t ldy;
    int64_t per_chunk; /* output-major: output columns per chunk; input-major: rows of W per chunk */
    float *partial;    /* input-major: each chunk's partial y, [chunks][m][n] */
    float *xs;         /* bf16 output-major on AVX-512: x's rows split per block of 32 into 16 even, then 16 odd */
    int64_t lead;      /* with xs: elements of W from the 64-byte boundary at or before each row to it (split_sums) */
    int64_t blocks;    /* with xs: 64-byte blocks per row of W, lead and trailing elements included */
    int64_t ahead;     /* output-major tiles: how far ahead they prefetch, in elements of W (whole tiles of rows) */
} gemv_job;

/* Elements i .. i + TS_LANES - 1 of rows wr of W (`tiles` of them, prefetched job->ahead on) times those of the `rows`
 * rows xr of x, into acc[u][t]. */
static inline __attribute__((always_inline)) void tile_vector(const gemv_job *job, const int64_t *wr, int tiles,
                                                              const float *const *xr, int rows, int64_t i, int type,
                                                              ts_vec *acc) {
    for (int t = 0; t < tiles; t++) {
        PREFETCH_W((const char *)job->w + (wr[t] + job->ahead + i) * ts_dtype_size(type));
        const ts_vec wv = load_widened(job->w, wr[t] + i, type);
        for (int u = 0; u < rows; u++) acc[u * tiles + t] += load(xr[u] + i) * wv;
    }
}

#if defined(__AVX512F__)
#define ALL_32 0xFFFFFFFFu /* a mask keeping all 32 weights of a block */

/* 32 bf16 weights from w (one 64-byte load; those outside `keep` read as zero, not read at all) as f32: the 16 even
 * ones (shifted up) and the 16 odd ones (masked), the order of job->xs's halves. */
static inline __attribute__((always_inline)) void bf16_halves(const uint16_t *w, __mmask32 keep, ts_vec *even, ts_vec *odd) {
    const __m512i pairs = keep == ALL_32 ? _mm512_loadu_si512(w) : _mm512_maskz_loadu_epi16(keep, w);
    *even = (ts_vec)_mm512_castsi512_ps(_mm512_slli_epi32(pairs, 16));
    *odd = (ts_vec)_mm512_castsi512_ps(_mm512_and_si512(pairs, _mm512_set1_epi32((int)0xFFFF0000)));
}

/* Block i .. i + 31 of a bf16 W row as split_sums reads it (even and odd halves; `row` is job->lead elements before
 * the row's first weight), the row job->ahead on prefetched. */
static inline __attribute__((always_inline)) void split_load(const gemv_job *job, const uint16_t *row, int64_t i,
                                                             __mmask32 keep, ts_vec *even, ts_vec *odd) {
    PREFETCH_W(row + job->ahead + i);
    bf16_halves(row + i, keep, even, odd);
}

/* acc plus those halves times x's split elements from xs on (16 even, then 16 odd). */
static inline __attribute__((always_inline)) ts_vec split_fma(ts_vec acc, const float *xs, ts_vec even, ts_vec odd) {
    acc += load(xs) * even;
    return acc + load(xs + 16) * odd;
}

/* Block i of rows wr (`tiles` of them, from w, job->lead elements before each row) times the split rows xs of x
 * (`rows` of them, from block i on), into acc[u][t]. */
static inline __attribute__((always_inline)) void split_block(const gemv_job *job, const uint16_t *w, const int64_t *wr,
                                                              int tiles, int64_t i, __mmask32 keep, const float *const *xs,
                                                              int rows, ts_vec *acc) {
    for (int t = 0; t < tiles; t++) {
        ts_vec even, odd;
        split_load(job, w + wr[t], i, keep, &even, &odd);
        for (int u = 0; u < rows; u++) acc[u * tiles + t] = split_fma(acc[u * tiles + t], xs[u] + i, even, odd);
    }
}

/* The sums of dot_tile (4 rows of W) and dot_wide_tile (WIDE_TILE rows) for bf16 W and k a multiple of 32, against
 * job->xs: one 64-byte load of a W row gives its 16 even weights as f32 (shifted up) and its 16 odd ones (masked),
 * multiplied by x's even and odd elements. Widening 16 at a time took a shuffle per load and read at 38 GB/s where f32
 * W reached 46 (22 TinyLlama layers in a C harness, 2 cores); this reads at 40-41.
 * The loads are of whole 64-byte blocks of memory whatever a row's alignment: a row starting job->lead elements past a
 * cache line is read from that line on, its first and last blocks with the weights outside the row masked out (never
 * read), and job->xs is split to match. A mapped file puts its tensors where its header ends (TinyLlama's bench file 40
 * bytes past a cache line, as any 8-byte-aligned header may), and 64-byte loads across two lines, each line loaded
 * twice, read TinyLlama's bf16 step 17-21% slower than aligned ones (bench/gemv-step/run --dtype bf16
 * off40=-DW_OFFSET=40, Zen 5, alternated: 51.5-59.8 against 41.8-48.0 ms); read so, they are level (38.9-42.4 against
 * 40.3-43.8). */
static inline __attribute__((always_inline)) void split_sums(const gemv_job *job, int64_t r0, int rows, const int64_t *wr,
                                                             int tiles, ts_vec *acc) {
    const uint16_t *w = (const uint16_t *)job->w - job->lead;
    const int64_t row_floats = job->blocks * 32;
    const float *xs[4];
    for (int u = 0; u < 4; u++) xs[u] = job->xs + (r0 + u < job->m ? r0 + u : r0) * row_floats;
    /* the first block on its own even when it is all the row's: aligned rows read 7-12% faster so (a decoding step's
     * products alternated step by step in one process: 39.3-40.0 against 44.9-45.6 ms), much as prefetching each
     * tile's first lines once more before its loop did; why is not understood */
    split_block(job, w, wr, tiles, 0, ALL_32 << job->lead, xs, rows, acc);
    const int64_t end = row_floats - (job->lead ? 32 : 0);
    for (int64_t i = 32; i < end; i += 32) split_block(job, w, wr, tiles, i, ALL_32, xs, rows, acc);
    if (job->lead) split_block(job, w, wr, tiles, end, ~(ALL_32 << job->lead), xs, rows, acc);
}

/* Output-major, half precision, one row of x, short rows of W (WIDE_ROW_BYTES): rows o0 .. o0 + WIDE_TILE - 1 of W
 * (all of them before n) side by side, each summed as dot_tile sums it (the same bits): bf16 by split_sums, f16 a
 * vector at a time. Four rows of 1.5 KiB are four short streams, which kept GPT-2's bf16 products at 0.55-0.62 of a
 * 1 GiB sum; twelve read at 0.64-0.68 (a step of `bench/gemv-step/run --shape gpt2 --dtype bf16`, Zen 5, alternated:
 * 5.6-5.8 against 6.2-6.7 ms; 8 rows 5.9-6.5, 16 rows 6.1-6.7). TinyLlama's 4 KiB rows gained nothing from it. */
static inline __attribute__((always_inline)) void dot_wide_tile(const gemv_job *job, int64_t o0, int type) {
    int64_t wr[WIDE_TILE];
    for (int t = 0; t < WIDE_TILE; t++) wr[t] = (o0 + t) * job->ldw;
    ts_vec acc[WIDE_TILE] = {{0}};
    if (type == TS_BF16) {
        split_sums(job, 0, 1, wr, WIDE_TILE, acc);
    } else { /* the first vector on its own, as in dot_tile: GPT-2's f16 step 4.6-5.2 against 5.4-5.5 ms (alternated) */
        const float *const x[1] = {job->x};
        tile_vector(job, wr, WIDE_TILE, x, 1, 0, TS_F16, acc);
        for (int64_t i = TS_LANES; i < job->k; i += TS_LANES) tile_vector(job, wr, WIDE_TILE, x, 1, i, TS_F16, acc);
    }
    lane_sums_into(acc, WIDE_TILE, job->y + o0);
}
#endif

/* Output-major: rows o0 .. o0 + 3 of W (a row past n repeats the last; its sums are not stored) with `rows`
 * (1, 2 or 4, a constant) rows of x from r0 (a row past m repeats r0). Four rows of x rather than two per pass over
 * W made TinyLlama's products at 8 rows faster (bench/gemv-step/run --rows 8, Zen 5, alternated: f32 128-156 against
 * 144-179 ms, bf16 93-102 against 121-124). The rows PREFETCH_AHEAD_BYTES on (job->ahead)
 * are prefetched as these are read: the hardware prefetchers alone fall behind on four streams per core (Zen 4: 27
 * against 30 GB/s f32, 24 against 30 GB/s bf16, 2 cores); a prefetch past the end of W never faults. */
static inline __attribute__((always_inline)) void dot_tile(const gemv_job *job, int64_t r0, int64_t o0, int rows, int type) {
    const int64_t k = job->k;
    const float *xr[4];
    int64_t wr[4]; /* element offsets of the W rows */
    for (int u = 0; u < 4; u++) xr[u] = job->x + (r0 + u < job->m ? r0 + u : r0) * job->ldx;
    for (int t = 0; t < 4; t++) wr[t] = (o0 + t < job->n ? o0 + t : job->n - 1) * job->ldw;
    ts_vec acc[4][4] = {{{0}}};
    const int64_t kv = k / TS_LANES * TS_LANES;
    if (type == TS_BF16 && job->xs) {
#if defined(__AVX512F__)
        split_sums(job, r0, rows, wr, 4, &acc[0][0]);
#endif
    } else {
        /* the first vector on its own, as split_sums takes its first block: TinyLlama's f16 step 10-13% faster
         * (bench/gemv-step, Zen 5, alternated: 39.5-43.6 against 44.5-49.6 ms), its f32 one 0.92-0.99 of a 1 GiB sum
         * against 0.84-0.98 */
        if (kv > 0) tile_vector(job, wr, 4, xr, rows, 0, type, &acc[0][0]);
        for (int64_t i = TS_LANES; i < kv; i += TS_LANES) tile_vector(job, wr, 4, xr, rows, i, type, &acc[0][0]);
    }
    float sums[4][4];
    lane_sums_into(&acc[0][0], 4 * rows, &sums[0][0]);
    for (int u = 0; u < rows && r0 + u < job->m; u++) {
        for (int t = 0; t < 4 && o0 + t < job->n; t++) {
            float s = sums[u][t];
            for (int64_t i = kv; i < k; i++) s += xr[u][i] * scalar_widened(job->w, wr[t] + i, type);
            job->y[(r0 + u) * job->ldy + o0 + t] = s;
        }
    }
}

/* Output-major, one row of x, short f32 rows: W row `o` alone, four accumulators. Reading the chunk's rows one after
 * another keeps one stream per thread; four rows of 3 KiB side by side are four short streams, which the prefetchers
 * follow worse on some CPUs (Zen 4: 15-17 against 29-30 GB/s on one core in a C probe; ts_gemv_f32 on 2 cores, GPT-2's
 * head and c_attn weights: 30-31 against 25-28 GB/s with prefetcht0 in the tiles; Zen 5, against today's tiles:
 * GPT-2's step 9.1-10.0 against 9.7-10.1 ms). Longer rows keep the four-row tiles (SHORT_ROW_BYTES); half-precision
 * rows of any length go to tiles too, of twelve rows when short (dot_wide_tile): GPT-2's bf16 step (`bench/gemv-step/run --shape
 * gpt2 --dtype bf16`, Zen 5) took 5.8-6.2 ms in four-row tiles against 8.9-9.2 ms one row at a time. */
static inline __attribute__((always_inline)) void dot_row(const gemv_job *job, int64_t o) {
    const int64_t k = job->k, w0 = o * job->ldw;
    const float *w = (const float *)job->w + w0;
    ts_vec acc[4] = {{0}};
    int64_t i = 0;
    for (; i + 4 * TS_LANES <= k; i += 4 * TS_LANES) {
        prefetch_short_row(job->w, w0 + i, 0);
        for (int t = 0; t < 4; t++) acc[t] += load(job->x + i + t * TS_LANES) * load(w + i + t * TS_LANES);
    }
    for (; i + TS_LANES <= k; i += TS_LANES) acc[0] += load(job->x + i) * load(w + i);
    float s = lane_sum((acc[0] + acc[1]) + (acc[2] + acc[3]));
    for (; i < k; i++) s += job->x[i] * w[i];
    job->y[o] = s;
}

/* Whether dot_chunk takes WIDE_TILE rows of W at a time (dot_wide_tile; AVX-512 only: bf16 with x split, f16 with k a
 * multiple of the vector). */
static inline int wide_tiles(const gemv_job *job, int type) {
    const int whole = type == TS_BF16 ? job->xs != NULL : type == TS_F16 && TS_LANES == 16 && job->k % TS_LANES == 0;
    return job->m == 1 && whole && job->k * (int64_t)sizeof(uint16_t) <= WIDE_ROW_BYTES;
}

static inline __attribute__((always_inline)) void dot_chunk(const gemv_job *job, int64_t chunk, int type) {
    const int64_t o1 = (chunk + 1) * job->per_chunk < job->n ? (chunk + 1) * job->per_chunk : job->n;
    if (job->m == 1 && type == TS_F32 && short_rows(job->k, TS_F32)) {
        for (int64_t o = chunk * job->per_chunk; o < o1; o++) dot_row(job, o);
        return;
    }
#if defined(__AVX512F__)
    if (wide_tiles(job, type)) {
        int64_t o0 = chunk * job->per_chunk;
        for (; o0 + WIDE_TILE <= o1; o0 += WIDE_TILE) dot_wide_tile(job, o0, type);
        for (; o0 < o1; o0 += 4) dot_tile(job, 0, o0, 1, type);
        return;
    }
#endif
    for (int64_t o0 = chunk * job->per_chunk; o0 < o1; o0 += 4) {
        for (int64_t r0 = 0; r0 < job->m; r0 += 4) {
            if (job->m - r0 == 1) dot_tile(job, r0, o0, 1, type);
            else if (job->m - r0 == 2) dot_tile(job, r0, o0, 2, type);
            else dot_tile(job, r0, o0, 4, type);
        }
    }
}

/* Input-major: chunk c sums the rows [c * per_chunk, (c + 1) * per_chunk) of W, each of them one contiguous run,
 * into its own partial y (partial + c * m * n); gemv() adds the partials up. Splitting k rather than the columns
 * lets each thread stream one contiguous block of W (splitting the columns read 1 KiB pieces of every row: 19
 * against 30 GB/s on 2 cores). The next four rows are prefetched as these are read. */
static inline __attribute__((always_inline)) void axpy_chunk(const gemv_job *job, int64_t chunk, int type) {
    const int64_t m = job->m, n = job->n, ldw = job->ldw;
    const int64_t bytes = ts_dtype_size(type);
    const int64_t i0 = chunk * job->per_chunk;
    const int64_t i1 = i0 + job->per_chunk < job->k ? i0 + job->per_chunk : job->k;
    float *partial = job->partial + chunk * m * n;
    const int64_t nv = n / TS_LANES * TS_LANES;
    memset(partial, 0, (size_t)(m * n) * sizeof(float));
    int64_t i = i0;
    if (m == 1 && short_rows(n, type)) {
        /* one short row of W at a time, one stream per thread (see dot_row): GPT-2's 768-wide Conv1D weights read at
         * 30-33 against 24-27 GB/s on 2 Zen 4 cores (bf16: 25-31 against 19-20); 2304- and 3072-wide rows were no
         * faster */
        for (; i < i1; i++) {
            const float a = job->x[i];
            const int64_t w0 = i * ldw;
            int64_t c = 0;
            for (; c < nv; c += TS_LANES) {
                prefetch_short_row(job->w, w0 + c, type);
                store(partial + c, load(partial + c) + a * load_widened(job->w, w0 + c, type));
            }
            for (; c < n; c++) partial[c] += a * scalar_widened(job->w, w0 + c, type);
        }
        return;
    }
    for (; i + 4 <= i1; i += 4) {
        const int64_t w0 = i * ldw;
        for (int64_t c = 0; c < nv; c += TS_LANES) {
            for (int t = 0; t < 4; t++) PREFETCH_W((const char *)job->w + (w0 + (4 + t) * ldw + c) * bytes);
            const ts_vec a = load_widened(job->w, w0 + c, type);
            const ts_vec b = load_widened(job->w, w0 + ldw + c, type);
            const ts_vec d = load_widened(job->w, w0 + 2 * ldw + c, type);
            const ts_vec e = load_widened(job->w, w0 + 3 * ldw + c, type);
            for (int64_t r = 0; r < m; r++) {
                const float *xr = job->x + r * job->ldx + i;
                float *out = partial + r * n + c;
                store(out, load(out) + xr[0] * a + xr[1] * b + xr[2] * d + xr[3] * e);
            }
        }
        for (int64_t c = nv; c < n; c++) {
            for (int64_t r = 0; r < m; r++) {
                const float *xr = job->x + r * job->ldx + i;
                partial[r * n + c] += xr[0] * scalar_widened(job->w, w0 + c, type) + xr[1] * scalar_widened(job->w, w0 + ldw + c, type)
                                      + xr[2] * scalar_widened(job->w, w0 + 2 * ldw + c, type)
                                      + xr[3] * scalar_widened(job->w, w0 + 3 * ldw + c, type);
            }
        }
    }
    for (; i < i1; i++) {
        for (int64_t r = 0; r < m; r++) {
            const float a = job->x[r * job->ldx + i];
            for (int64_t c = 0; c < n; c++) partial[r * n + c] += a * scalar_widened(job->w, i * ldw + c, type);
        }
    }
}

/* The six pool functions: each layout with each weight type, the type a constant so the loads specialise. */
static void dot_chunk_f32(void *ctx, int64_t chunk) { dot_chunk(ctx, chunk, TS_F32); }
static void dot_chunk_bf16(void *ctx, int64_t chunk) { dot_chunk(ctx, chunk, TS_BF16); }
static void dot_chunk_f16(void *ctx, int64_t chunk) { dot_chunk(ctx, chunk, TS_F16); }
static void axpy_chunk_f32(void *ctx, int64_t chunk) { axpy_chunk(ctx, chunk, TS_F32); }
static void axpy_chunk_bf16(void *ctx, int64_t chunk) { axpy_chunk(ctx, chunk, TS_BF16); }
static void axpy_chunk_f16(void *ctx, int64_t chunk) { axpy_chunk(ctx, chunk, TS_F16); }

static const ts_pool_fn DOT_CHUNK[] = {[TS_F32] = dot_chunk_f32, [TS_BF16] = dot_chunk_bf16, [TS_F16] = dot_chunk_f16};
static const ts_pool_fn AXPY_CHUNK[] = {[TS_F32] = axpy_chunk_f32, [TS_BF16] = axpy_chunk_bf16, [TS_F16] = axpy_chunk_f16};

/* Rows of W of row_bytes each in about `bytes`: whole tiles of tile_rows rows, at least one. */
static int64_t whole_tiles(int64_t bytes, int64_t row_bytes, int64_t tile_rows) {
    const int64_t rows = (bytes / row_bytes + tile_rows - 1) / tile_rows * tile_rows;
    return rows < tile_rows ? tile_rows : rows;
}

static int gemv(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *w, int64_t ldw, int input_major,
                int type, float *y, int64_t ldy) {
    if (m == 0 || n == 0) return TS_OK;
    if (k == 0) {
        for (int64_t r = 0; r < m; r++) memset(y + r * ldy, 0, (size_t)n * sizeof(float));
        return TS_OK;
    }
    gemv_job job = {m, n, k, x, ldx, w, ldw, y, ldy, 0, NULL, NULL, 0, 0, 0};
#if defined(__AVX512F__)
    if (type == TS_BF16 && !input_major && k % 32 == 0) {
        /* rows all as far past a cache line as the first (whole 64-byte rows apart) are read from that line on */
        const uintptr_t address = (uintptr_t)w;
        job.lead = ldw % 32 == 0 && address % 2 == 0 ? (int64_t)(address % 64 / 2) : 0;
        job.blocks = (job.lead + k + 31) / 32;
        job.xs = malloc((size_t)(m * job.blocks * 32) * sizeof(float));
        if (!job.xs) return TS_ERR_NOMEM;
        for (int64_t r = 0; r < m; r++) {
            float *split = job.xs + r * job.blocks * 32;
            for (int64_t b = 0; b < job.blocks; b++)
                for (int l = 0; l < 32; l++) { /* x's element e, or zero where the block is outside the row */
                    const int64_t e = b * 32 - job.lead + l;
                    split[b * 32 + l / 2 + l % 2 * 16] = e >= 0 && e < k ? x[r * ldx + e] : 0.0f;
                }
        }
    }
#endif
    if (input_major) {
        /* GEMV_K_SPLITS blocks of whole 4-row groups, whatever the thread count, so results do not depend on it */
        job.per_chunk = ((k + GEMV_K_SPLITS - 1) / GEMV_K_SPLITS + 3) / 4 * 4;
    } else {
        /* about GEMV_CHUNK_BYTES of W per chunk (twice the rows for half precision), prefetched PREFETCH_AHEAD_BYTES ahead */
        const int64_t row_bytes = k * ts_dtype_size(type);
        job.per_chunk = whole_tiles(GEMV_CHUNK_BYTES, row_bytes, wide_tiles(&job, type) ? WIDE_TILE : 4);
        job.ahead = whole_tiles(PREFETCH_AHEAD_BYTES, row_bytes, 4) * ldw;
    }
    const int64_t chunks = ((input_major ? k : n) + job.per_chunk - 1) / job.per_chunk;
    if (input_major) {
        job.partial = malloc((size_t)(chunks * m * n) * sizeof(float));
        if (!job.partial) return TS_ERR_NOMEM;
    }
    const ts_pool_fn fn = input_major ? AXPY_CHUNK[type] : DOT_CHUNK[type];
    if (m * n * k < GEMV_PARALLEL_MIN) {
        for (int64_t c = 0; c < chunks; c++) fn(&job, c);
    } else {
        ts_pool_for(chunks, fn, &job);
    }
    if (input_major) {
        for (int64_t r = 0; r < m; r++) {
            float *out = y + r * ldy;
            memcpy(out, job.partial + r * n, (size_t)n * sizeof(float));
            for (int64_t c = 1; c < chunks; c++) {
                const float *part = job.partial + (c * m + r) * n;
#pragma omp simd
                for (int64_t j = 0; j < n; j++) out[j] += part[j];
            }
        }
        free(job.partial);
    }
    free(job.xs);
    return TS_OK;
}

int TS_FN(ts_gemv_f32)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw,
                       int input_major, float *y, int64_t ldy) {
    return gemv(m, n, k, x, ldx, w, ldw, input_major, TS_F32, y, ldy);
}

int TS_FN(ts_gemv_bf16)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw,
                        int input_major, float *y, int64_t ldy) {
    return gemv(m, n, k, x, ldx, w, ldw, input_major, TS_BF16, y, ldy);
}

int TS_FN(ts_gemv_f16)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw,
                       int input_major, float *y, int64_t ldy) {
    return gemv(m, n, k, x, ldx, w, ldw, input_major, TS_F16, y, ldy);
}
