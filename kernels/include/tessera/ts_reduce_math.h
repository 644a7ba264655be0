/* The accumulator of the reductions (ts_ops.h's TS_R* codes), shared by the CPU and CUDA kernels: sums
 * in float64; max, min and argmax keep the best value and its index, and a NaN wins (the first one), as
 * in PyTorch. ts_racc_merge combines two partial accumulators, in any order (the CUDA block reductions). */
#ifndef TESSERA_TS_REDUCE_MATH_H
#define TESSERA_TS_REDUCE_MATH_H

#include <stdint.h>

#include "tessera/ts_abi.h"
#include "tessera/ts_math.h"
#include "tessera/ts_ops.h"

/* Also the CUDA reductions' per-split partials in device scratch, which Java sizes (KernelStructs.REDUCE_ACCUMULATOR). */
typedef struct {
    double sum;
    float best;
    int64_t arg; /* -1 while nothing was added (max/argmax) */
} ts_racc;

#define TS_RACC_LAYOUT(SIZE, FIELD) SIZE(ts_racc, 24) FIELD(ts_racc, sum, 0) FIELD(ts_racc, best, 8) FIELD(ts_racc, arg, 16)
TS_RACC_LAYOUT(TS_ABI_SIZE, TS_ABI_OFFSET)

TS_HD ts_racc ts_racc_init(int op) {
    ts_racc a;
    a.sum = 0.0;
    a.best = op == TS_RMIN ? INFINITY : -INFINITY;
    a.arg = -1;
    return a;
}

TS_HD void ts_racc_add(int op, ts_racc *a, float v, int64_t index) {
    switch (op) {
    case TS_RSUM: a->sum += v; break;
    case TS_RSUMSQ: a->sum += (double)v * v; break;
    case TS_RMIN:
        if (a->best == a->best && (v < a->best || v != v)) a->best = v;
        break;
    default: /* TS_RMAX, TS_RARGMAX */
        if (a->arg < 0 || (a->best == a->best && (v > a->best || v != v))) {
            a->best = v;
            a->arg = index;
        }
        break;
    }
}

/* The result of merging partials covering any two sets of indices: the larger value (or the NaN), and
 * on a tie the smaller index, so the merge order does not change an argmax. */
TS_HD ts_racc ts_racc_merge(int op, ts_racc a, ts_racc b) {
    if (op == TS_RSUM || op == TS_RSUMSQ) {
        a.sum += b.sum;
        return a;
    }
    if (op == TS_RMIN) {
        if (a.best == a.best && (b.best < a.best || b.best != b.best)) a.best = b.best;
        return a;
    }
    if (b.arg < 0) return a;
    if (a.arg < 0) return b;
    const int a_nan = a.best != a.best, b_nan = b.best != b.best;
    if (a_nan != b_nan) return a_nan ? a : b;
    if (!a_nan && a.best != b.best) return a.best > b.best ? a : b;
    return a.arg < b.arg ? a : b;
}

/* The float result of a sum, max or min (argmax stores .arg). */
TS_HD float ts_racc_value(int op, ts_racc a) { return op == TS_RSUM || op == TS_RSUMSQ ? (float)a.sum : a.best; }

#endif
