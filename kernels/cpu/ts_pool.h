/* A small persistent thread pool for kernels called many times a second on little work each, such as the
 * matrix-vector products of one decoding step (a few hundred microseconds each): an OpenMP region with
 * passive waiting (OMP_WAIT_POLICY=PASSIVE, which the benchmarks and OpenBLAS coexistence need) costs a
 * futex wake-up per region, tens of microseconds on a loaded machine. The pool's workers spin for a while
 * after each job before they sleep, and chunks are handed out dynamically, so a worker the OS did not
 * schedule in time costs nothing: the caller takes its chunks. Implemented in runtime/pool.c. */
#ifndef TESSERA_TS_POOL_H
#define TESSERA_TS_POOL_H

#include <stdint.h>

/* Runs fn(ctx, chunk) for every chunk in [0, chunks), on the caller and up to omp_get_max_threads() - 1
 * workers; returns when all chunks are done. fn must not call ts_pool_for itself. Calls from several
 * threads at once are serialised. */
typedef void (*ts_pool_fn)(void *ctx, int64_t chunk);
void ts_pool_for(int64_t chunks, ts_pool_fn fn, void *ctx);

#endif
