/* Reductions: y[o] = op over the reduced index space of x, for every outer index o.
 * The outer and reduced dims arrive separately (Java permutes nothing: it passes the strides), so any
 * set of dims can be reduced without a copy. The accumulator (sums in double) is tessera/ts_reduce_math.h,
 * shared with the CUDA kernels. Two loop shapes:
 * - reduced dims innermost in memory: each output is a strided (usually unit) dot over its slice;
 * - reducing leading dims of a row-major block (e.g. a bias gradient summed over the batch): whole
 *   rows are added into a block of double accumulators, so memory is read once, in order. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "tessera/ts_reduce_math.h"
#include "strided.h"
#include "ts_cpu.h"

#define TS_COLUMN_BLOCK 512

static inline void acc_store(int op, const ts_racc *a, void *y, int64_t o) {
    if (op == TS_RARGMAX) {
        ((int64_t *)y)[o] = a->arg;
    } else {
        ((float *)y)[o] = ts_racc_value(op, *a);
    }
}

/* blas1.c's float64-accumulated sum of a contiguous run, split over the threads. */
int TS_FN(ts_sum_f32)(int64_t n, const float *x, double *out);

/* Adds reduced row r (of the coalesced reduced space) into acc; index counts elements row-major. */
static void reduce_row(int op, const ts_iter *red, const float *x, int64_t r, ts_racc *acc) {
    const int64_t inner = red->shape[red->ndim - 1];
    const int64_t s = TS_INNER_STRIDE(red, 0);
    int64_t off = 0, rest = r;
    for (int d = red->ndim - 2; d >= 0; d--) {
        off += (rest % red->shape[d]) * red->strides[0][d];
        rest /= red->shape[d];
    }
    const float *row = x + off;
    if ((op == TS_RSUM || op == TS_RSUMSQ) && s == 1) {
        double sum = 0.0;
        if (op == TS_RSUM) {
#pragma omp simd reduction(+ : sum)
            for (int64_t i = 0; i < inner; i++) sum += row[i];
        } else {
#pragma omp simd reduction(+ : sum)
            for (int64_t i = 0; i < inner; i++) sum += (double)row[i] * row[i];
        }
        acc->sum += sum;
    } else {
        for (int64_t i = 0; i < inner; i++) ts_racc_add(op, acc, row[i * s], r * inner + i);
    }
}

/* max or min of a contiguous run, vectorised and split over the threads; a NaN anywhere gives NaN (as
 * PyTorch's max does), tracked by a flag so the comparisons stay branch-free. */
static float contiguous_extreme(int op, int64_t n, const float *restrict x, int big) {
    float best = op == TS_RMAX ? -INFINITY : INFINITY;
    int nan = 0;
    if (op == TS_RMAX) {
#pragma omp parallel for simd schedule(static) reduction(max : best) reduction(| : nan) if (big)
        for (int64_t i = 0; i < n; i++) {
            best = x[i] > best ? x[i] : best;
            nan |= x[i] != x[i];
        }
    } else {
#pragma omp parallel for simd schedule(static) reduction(min : best) reduction(| : nan) if (big)
        for (int64_t i = 0; i < n; i++) {
            best = x[i] < best ? x[i] : best;
            nan |= x[i] != x[i];
        }
    }
    return nan ? NAN : best;
}

/* One output: all reduced rows in order. */
static void reduce_one(int op, const ts_iter *red, const float *x, void *y, int64_t o) {
    ts_racc acc = ts_racc_init(op);
    const int64_t rows = red->numel / red->shape[red->ndim - 1];
    for (int64_t r = 0; r < rows; r++) reduce_row(op, red, x, r, &acc);
    acc_store(op, &acc, y, o);
}

int TS_FN(ts_reduce_f32)(int op, int outer_ndim, const int64_t *outer_shape, const int64_t *outer_xs, int red_ndim,
                         const int64_t *red_shape, const int64_t *red_xs, const float *x, void *y) {
    ts_iter outer, red;
    const int64_t *os[1] = {outer_xs};
    const int64_t *rs[1] = {red_xs};
    ts_iter_init(&outer, outer_ndim, outer_shape, 1, os);
    ts_iter_init(&red, red_ndim, red_shape, 1, rs);
    const int64_t n_out = outer.numel;
    if (n_out == 0) return TS_OK;
    if (red.numel == 0) { /* only sums reach here (Java refuses empty max/min/argmax): 0 */
        memset(y, 0, (size_t)n_out * sizeof(float));
        return TS_OK;
    }
    const int big = n_out * red.numel >= TS_PARALLEL_MIN;
    /* column shape: outputs contiguous in x (outer stride 1, one outer dim), reduced dims outside */
    if ((op == TS_RSUM || op == TS_RSUMSQ) && outer.ndim == 1 && outer.strides[0][0] == 1 && red.ndim == 1 &&
        red.strides[0][0] >= n_out) {
        const int64_t rs0 = red.strides[0][0], nr = red.shape[0];
        const int64_t blocks = (n_out + TS_COLUMN_BLOCK - 1) / TS_COLUMN_BLOCK;
#pragma omp parallel for schedule(static) if (big && blocks > 1)
        for (int64_t blk = 0; blk < blocks; blk++) {
            double acc[TS_COLUMN_BLOCK];
            const int64_t j0 = blk * TS_COLUMN_BLOCK;
            const int64_t w = n_out - j0 < TS_COLUMN_BLOCK ? n_out - j0 : TS_COLUMN_BLOCK;
            for (int64_t j = 0; j < w; j++) acc[j] = 0.0;
            for (int64_t r = 0; r < nr; r++) {
                const float *row = x + r * rs0 + j0;
                if (op == TS_RSUM) {
#pragma omp simd
                    for (int64_t j = 0; j < w; j++) acc[j] += row[j];
                } else {
#pragma omp simd
                    for (int64_t j = 0; j < w; j++) acc[j] += (double)row[j] * row[j];
                }
            }
            for (int64_t j = 0; j < w; j++) ((float *)y)[j0 + j] = (float)acc[j];
        }
        return TS_OK;
    }
    if (n_out == 1) { /* full reduction: split the reduced rows over the threads */
        if (op == TS_RSUM || op == TS_RSUMSQ) {
            const int64_t inner = red.shape[red.ndim - 1], rows = red.numel / inner, s = TS_INNER_STRIDE(&red, 0);
            double total = 0.0;
            if (rows == 1 && s == 1) { /* one contiguous run: with s a variable, the loop below reads 3.5x slower
                                          * (9.7 against 34 GB/s, C probe, 2 threads) */
                if (op == TS_RSUM) {
                    TS_FN(ts_sum_f32)(inner, x, &total);
                } else {
#pragma omp parallel for simd schedule(static) reduction(+ : total) if (big)
                    for (int64_t i = 0; i < inner; i++) total += (double)x[i] * x[i];
                }
            } else if (rows == 1) { /* one long strided row: split it over the threads */
                if (op == TS_RSUM) {
#pragma omp parallel for simd schedule(static) reduction(+ : total) if (big)
                    for (int64_t i = 0; i < inner; i++) total += x[i * s];
                } else {
#pragma omp parallel for simd schedule(static) reduction(+ : total) if (big)
                    for (int64_t i = 0; i < inner; i++) total += (double)x[i * s] * x[i * s];
                }
            } else {
#pragma omp parallel for schedule(static) reduction(+ : total) if (big)
                for (int64_t r = 0; r < rows; r++) {
                    ts_racc acc = ts_racc_init(op);
                    reduce_row(op, &red, x, r, &acc);
                    total += acc.sum;
                }
            }
            ((float *)y)[0] = (float)total;
            return TS_OK;
        }
        if (red.ndim == 1 && red.strides[0][0] == 1 && (op == TS_RMAX || op == TS_RMIN)) {
            ((float *)y)[0] = contiguous_extreme(op, red.numel, x, big);
            return TS_OK;
        }
        reduce_one(op, &red, x, y, 0);
        return TS_OK;
    }
#pragma omp parallel for schedule(static) if (big)
    for (int64_t o = 0; o < n_out; o++) {
        int64_t off = 0, rest = o;
        for (int d = outer.ndim - 1; d >= 0; d--) {
            off += (rest % outer.shape[d]) * outer.strides[0][d];
            rest /= outer.shape[d];
        }
        reduce_one(op, &red, x + off, y, o);
    }
    return TS_OK;
}
