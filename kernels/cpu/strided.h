/* N-d strided iteration shared by the elementwise, copy and reduce kernels.
 * A view is (shape, one stride array per operand); the iterator coalesces dims that are contiguous
 * for every operand and drops dims of size 1, so a contiguous tensor of any rank becomes one flat loop.
 * Work is split into tasks (row of the innermost dim x chunk of that row) that OpenMP spreads over
 * the threads, so both a tall [N, 3] and a flat [10^8] view keep every core busy. */
#ifndef TESSERA_STRIDED_H
#define TESSERA_STRIDED_H

#include <stdint.h>

#include "tessera/ts_ops.h"
#include "ts_cpu.h"

#define TS_MAX_OPERANDS 4
/* innermost rows longer than this are cut into chunks so one long row still parallelises */
#define TS_CHUNK 16384

typedef struct {
    int ndim;      /* >= 1 after init */
    int nops;
    int64_t numel; /* 0 when any dim is 0 */
    int64_t shape[TS_MAX_DIMS];
    int64_t strides[TS_MAX_OPERANDS][TS_MAX_DIMS];
    int64_t chunks;  /* chunks per innermost row */
    int64_t tasks;   /* rows * chunks */
} ts_iter;

static inline void ts_iter_init(ts_iter *it, int ndim, const int64_t *shape, int nops, const int64_t *const *strides) {
    it->nops = nops;
    it->ndim = 0;
    it->numel = 1;
    for (int d = 0; d < ndim; d++) {
        it->numel *= shape[d];
        if (shape[d] == 1) continue;
        int k = it->ndim;
        /* merge into the previous kept dim when every operand steps through both as through one */
        int mergeable = k > 0;
        for (int o = 0; o < nops && mergeable; o++) {
            mergeable = strides[o][d] * shape[d] == it->strides[o][k - 1];
        }
        if (mergeable) {
            it->shape[k - 1] *= shape[d];
            for (int o = 0; o < nops; o++) it->strides[o][k - 1] = strides[o][d];
        } else {
            it->shape[k] = shape[d];
            for (int o = 0; o < nops; o++) it->strides[o][k] = strides[o][d];
            it->ndim++;
        }
    }
    if (it->ndim == 0) {
        it->ndim = 1;
        it->shape[0] = 1;
        for (int o = 0; o < nops; o++) it->strides[o][0] = 0;
    }
    int64_t inner = it->shape[it->ndim - 1];
    it->chunks = inner > TS_CHUNK ? (inner + TS_CHUNK - 1) / TS_CHUNK : 1;
    it->tasks = it->numel == 0 ? 0 : (it->numel / inner) * it->chunks;
}

/* For task t: element offset of its first element per operand, and the [begin, end) of its chunk. */
static inline void ts_iter_task(const ts_iter *it, int64_t t, int64_t *offsets, int64_t *count) {
    int64_t inner = it->shape[it->ndim - 1];
    int64_t row = t / it->chunks;
    int64_t begin = (t % it->chunks) * TS_CHUNK;
    int64_t end = begin + TS_CHUNK < inner ? begin + TS_CHUNK : inner;
    *count = it->chunks == 1 ? inner : end - begin;
    for (int o = 0; o < it->nops; o++) offsets[o] = (it->chunks == 1 ? 0 : begin) * it->strides[o][it->ndim - 1];
    for (int d = it->ndim - 2; d >= 0; d--) {
        int64_t i = row % it->shape[d];
        row /= it->shape[d];
        for (int o = 0; o < it->nops; o++) offsets[o] += i * it->strides[o][d];
    }
}

#define TS_INNER_STRIDE(it, o) ((it)->strides[o][(it)->ndim - 1])

/* Runs the body (the variadic argument, a braced block) once per task of iterator IT, in parallel
 * when there is enough work; inside the body, OFF[o] is operand o's first element and N the task's
 * element count. */
#define TS_FOR_EACH_TASK(IT, OFF, N, ...)                                                        \
    do {                                                                                         \
        const ts_iter *const iter_ = &(IT);                                                      \
        TS_PARALLEL_FOR_IF(iter_->numel >= TS_PARALLEL_MIN && iter_->tasks > 1,                  \
                           omp parallel for schedule(static), task_, iter_->tasks, {             \
            int64_t OFF[TS_MAX_OPERANDS], N;                                                     \
            ts_iter_task(iter_, task_, OFF, &N);                                                 \
            __VA_ARGS__                                                                          \
        });                                                                                      \
    } while (0)

#endif
