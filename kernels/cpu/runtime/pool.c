/* The persistent pool of ts_pool.h. One job at a time (callers take a mutex). The chunks are split into one
 * contiguous range per taking part thread (the caller is range 0, worker i range i + 1): each thread runs its
 * own range from the front and, once it is empty, takes chunks from the back of the others'. So each thread
 * streams one run of memory (chunks handed out in turn interleave the threads' streams, which cost 15% of the
 * read rate of a decoding step's weights on 2 cores), and a thread the OS runs late still has its range
 * finished by the others, a chunk at a time.
 *
 * A range is one 64-bit word, generation << 32 | front << 16 | back (units left of the range are [front,
 * back)); a thread claims a unit with a CAS, so a worker that wakes late for an old generation can never claim
 * a unit of a newer job, and the job's fields it read before a successful claim are those of the live job
 * (a newer job is published only after every unit of this one is done). A unit is one chunk, or several
 * consecutive ones when a job has more than 65535 per range. */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../ts_pool.h"
#include "runtime.h"

#define POOL_MAX_WORKERS 63
/* How long an idle worker polls for the next job before it sleeps: longer than the Java work between two
 * products of a decoding step (tens of microseconds), short enough not to burn a core for long after. */
#define POOL_SPIN_NS 400000

static pthread_mutex_t pool_call_lock = PTHREAD_MUTEX_INITIALIZER;
static int pool_workers; /* started so far; guarded by pool_call_lock */

static _Atomic uint32_t pool_generation;   /* futex word, bumped once per job */
static _Atomic uint64_t pool_ranges[POOL_MAX_WORKERS + 1];
static _Atomic int64_t pool_done;          /* chunks finished in the current job */
static _Atomic(ts_pool_fn) pool_fn;
static _Atomic(void *) pool_ctx;
static _Atomic int64_t pool_chunks;
static _Atomic int64_t pool_unit;          /* chunks per unit */
static _Atomic int pool_active_workers;    /* workers with a smaller index take part in the current job */
static _Atomic int pool_sleepers;

#define POOL_MAX_UNITS 0xffff /* per range: front and back are 16 bits */

static inline void pool_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t pool_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t pool_range_start(int64_t units, int parts, int range) { return units * range / parts; }

/* Claims a unit of `range` in job `generation`, from its front or its back; its index, or -1 if none is left. */
static int64_t pool_claim(uint32_t generation, int range, int from_back) {
    for (;;) {
        uint64_t word = atomic_load_explicit(&pool_ranges[range], memory_order_acquire);
        const uint32_t front = (uint32_t)(word >> 16) & 0xffff, back = (uint32_t)word & 0xffff;
        if ((uint32_t)(word >> 32) != generation || front >= back) return -1;
        const uint64_t claimed = from_back ? word - 1 : word + (1 << 16);
        if (atomic_compare_exchange_weak_explicit(&pool_ranges[range], &word, claimed, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            return from_back ? back - 1 : front;
        }
    }
}

/* Runs units of job `generation` until none is left: its own range `self` from the front, then the others'
 * from the back. */
static void pool_run_chunks(uint32_t generation, int self) {
    const int parts = atomic_load_explicit(&pool_active_workers, memory_order_relaxed) + 1;
    for (int i = 0; i < parts; i++) {
        const int range = (self + i) % parts;
        for (int64_t unit; (unit = pool_claim(generation, range, i > 0)) >= 0;) {
            /* the fields below belong to the job whose unit was claimed (see the top of this file) */
            const ts_pool_fn fn = atomic_load_explicit(&pool_fn, memory_order_relaxed);
            void *const ctx = atomic_load_explicit(&pool_ctx, memory_order_relaxed);
            const int64_t chunks = atomic_load_explicit(&pool_chunks, memory_order_relaxed);
            const int64_t per_unit = atomic_load_explicit(&pool_unit, memory_order_relaxed);
            const int64_t units = (chunks + per_unit - 1) / per_unit;
            const int64_t first = (pool_range_start(units, parts, range) + unit) * per_unit;
            const int64_t last = first + per_unit < chunks ? first + per_unit : chunks;
            for (int64_t c = first; c < last; c++) fn(ctx, c);
            atomic_fetch_add_explicit(&pool_done, last - first, memory_order_release);
        }
    }
}

static uint32_t pool_wait_for_job(uint32_t seen) {
    const int64_t start = pool_now_ns();
    for (unsigned spins = 1;; spins++) {
        const uint32_t g = atomic_load_explicit(&pool_generation, memory_order_acquire);
        if (g != seen) return g;
        pool_pause();
        if ((spins & 255) == 0 && pool_now_ns() - start > POOL_SPIN_NS) break;
    }
    atomic_fetch_add(&pool_sleepers, 1);
    uint32_t g;
    while ((g = atomic_load(&pool_generation)) == seen) {
        syscall(SYS_futex, &pool_generation, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
    }
    atomic_fetch_sub(&pool_sleepers, 1);
    return g;
}

static void *pool_worker(void *arg) {
    const int index = (int)(intptr_t)arg;
    uint32_t seen = atomic_load(&pool_generation); /* started before the job that needed it is published */
    for (;;) {
        seen = pool_wait_for_job(seen);
        if (index < atomic_load_explicit(&pool_active_workers, memory_order_relaxed)) pool_run_chunks(seen, index + 1);
    }
    return NULL;
}

/* Starts workers up to `wanted` (fewer if the system refuses threads: the caller then does more chunks). */
static int pool_start_workers(int wanted) {
    while (pool_workers < wanted) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int failed = pthread_create(&thread, &attr, pool_worker, (void *)(intptr_t)pool_workers);
        pthread_attr_destroy(&attr);
        if (failed) break;
        pool_workers++;
    }
    return pool_workers;
}

void ts_pool_for(int64_t chunks, ts_pool_fn fn, void *ctx) {
    const int threads = omp_get_max_threads();
    if (chunks <= 1 || threads <= 1) {
        for (int64_t c = 0; c < chunks; c++) fn(ctx, c);
        return;
    }
    pthread_mutex_lock(&pool_call_lock);
    const int wanted = threads - 1 < POOL_MAX_WORKERS ? threads - 1 : POOL_MAX_WORKERS;
    const int workers = pool_start_workers(wanted) < wanted ? pool_workers : wanted;
    const int parts = workers + 1;
    const int64_t per_unit = (chunks + (int64_t)parts * POOL_MAX_UNITS - 1) / ((int64_t)parts * POOL_MAX_UNITS);
    const int64_t units = (chunks + per_unit - 1) / per_unit;
    atomic_store_explicit(&pool_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool_ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool_chunks, chunks, memory_order_relaxed);
    atomic_store_explicit(&pool_unit, per_unit, memory_order_relaxed);
    atomic_store_explicit(&pool_active_workers, workers, memory_order_relaxed);
    atomic_store_explicit(&pool_done, 0, memory_order_relaxed);
    const uint32_t generation = atomic_load_explicit(&pool_generation, memory_order_relaxed) + 1;
    for (int r = 0; r < parts; r++) {
        const int64_t size = pool_range_start(units, parts, r + 1) - pool_range_start(units, parts, r);
        atomic_store_explicit(&pool_ranges[r], (uint64_t)generation << 32 | (uint64_t)size, memory_order_release);
    }
    atomic_store(&pool_generation, generation);
    if (atomic_load(&pool_sleepers) > 0) {
        syscall(SYS_futex, &pool_generation, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
    pool_run_chunks(generation, 0);
    /* a worker may still be inside its last chunk */
    for (unsigned spins = 1; atomic_load_explicit(&pool_done, memory_order_acquire) < chunks; spins++) {
        if ((spins & 1023) == 0) {
            sched_yield();
        } else {
            pool_pause();
        }
    }
    pthread_mutex_unlock(&pool_call_lock);
}

static void pool_cover_chunk(void *ctx, int64_t chunk) {
    atomic_fetch_add_explicit((_Atomic int32_t *)ctx + chunk, 1, memory_order_relaxed);
}

TS_EXPORT void ts_pool_cover(int64_t chunks, int32_t *counts) { ts_pool_for(chunks, pool_cover_chunk, counts); }
