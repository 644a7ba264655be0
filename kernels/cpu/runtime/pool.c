/* The persistent pool of ts_pool.h. One job at a time (callers take a mutex). A job is published as one
 * 64-bit word, generation << 32 | chunks left: a thread claims a chunk by decrementing it with a CAS, so a
 * worker that wakes late for an old generation can never claim a chunk of a newer job, and the job's
 * fields it read before a successful claim are those of the live job. */
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

#define POOL_MAX_WORKERS 63
/* How long an idle worker polls for the next job before it sleeps: longer than the Java work between two
 * products of a decoding step (tens of microseconds), short enough not to burn a core for long after. */
#define POOL_SPIN_NS 400000

static pthread_mutex_t pool_call_lock = PTHREAD_MUTEX_INITIALIZER;
static int pool_workers; /* started so far; guarded by pool_call_lock */

static _Atomic uint32_t pool_generation;   /* futex word, bumped once per job */
static _Atomic uint64_t pool_claim;        /* generation << 32 | chunks not yet claimed */
static _Atomic int64_t pool_done;          /* chunks finished in the current job */
static _Atomic(ts_pool_fn) pool_fn;
static _Atomic(void *) pool_ctx;
static _Atomic int64_t pool_chunks;
static _Atomic int pool_active_workers;    /* workers with a smaller index take part in the current job */
static _Atomic int pool_sleepers;

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

/* Claims and runs chunks of job `generation` until none is left. */
static void pool_run_chunks(uint32_t generation) {
    for (;;) {
        uint64_t claim = atomic_load_explicit(&pool_claim, memory_order_acquire);
        if ((uint32_t)(claim >> 32) != generation || (uint32_t)claim == 0) return;
        const ts_pool_fn fn = atomic_load_explicit(&pool_fn, memory_order_relaxed);
        void *const ctx = atomic_load_explicit(&pool_ctx, memory_order_relaxed);
        const int64_t chunks = atomic_load_explicit(&pool_chunks, memory_order_relaxed);
        if (!atomic_compare_exchange_weak_explicit(&pool_claim, &claim, claim - 1, memory_order_acq_rel,
                                                   memory_order_acquire)) {
            continue;
        }
        fn(ctx, chunks - (int64_t)(uint32_t)claim);
        atomic_fetch_add_explicit(&pool_done, 1, memory_order_release);
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
        if (index < atomic_load_explicit(&pool_active_workers, memory_order_relaxed)) pool_run_chunks(seen);
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
    if (chunks <= 1 || threads <= 1 || chunks > UINT32_MAX) {
        for (int64_t c = 0; c < chunks; c++) fn(ctx, c);
        return;
    }
    pthread_mutex_lock(&pool_call_lock);
    const int wanted = threads - 1 < POOL_MAX_WORKERS ? threads - 1 : POOL_MAX_WORKERS;
    const int workers = pool_start_workers(wanted) < wanted ? pool_workers : wanted;
    atomic_store_explicit(&pool_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool_ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool_chunks, chunks, memory_order_relaxed);
    atomic_store_explicit(&pool_active_workers, workers, memory_order_relaxed);
    atomic_store_explicit(&pool_done, 0, memory_order_relaxed);
    const uint32_t generation = atomic_load_explicit(&pool_generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool_claim, (uint64_t)generation << 32 | (uint64_t)chunks, memory_order_release);
    atomic_store(&pool_generation, generation);
    if (atomic_load(&pool_sleepers) > 0) {
        syscall(SYS_futex, &pool_generation, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
    pool_run_chunks(generation);
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
