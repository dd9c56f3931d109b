// The worker threads every parallel kernel runs on.
//
// Written here rather than taken from Dispatch or OpenMP, measured on compare's small ViT (1,088 tokens × 96
// channels, a few hundred parallel regions per training step, each tens of microseconds): Dispatch's
// concurrentPerform wakes a parked worker through a semaphore on every call, and that hand-off cost as much as the
// second core saved (the step took as long on one core as on two); libgomp's team spins for about a millisecond
// after each region with no way to shorten it once loaded, taking the core from the work that follows (11% of a
// ViT-S/16 forward). These workers spin for a short while after each region, then sleep on a condition variable.
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#include "FastKernels.h"

// How long a worker keeps polling for the next region before it sleeps: long enough to cover the bookkeeping
// between two kernels of a small model's step, short enough not to hold a core that other work wants.
enum { spin_nanoseconds = 100000, max_workers = 255 };

// The current region's ticket packs its generation (bits 32–63), its task count (16–31) and the next unclaimed
// index (0–15) into one word, so that a worker claims an index of exactly the region it saw: one that arrives late
// finds a new generation and claims nothing of it under the old task.
static struct {
    _Atomic uint64_t ticket;
    _Atomic long done;
    _Atomic int sleepers;
    // Written by the owner before it publishes the ticket; read by workers only after they claim an index.
    tessera_task task;
    void *context;
    uint32_t generation;
    int workers;
    pthread_mutex_t owner;      // held for one region: a second caller runs its tasks itself
    pthread_mutex_t lock;       // guards sleeping
    pthread_cond_t wake;
} pool = {.owner = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

// Whether this thread is inside a region (a worker always is): nested regions run serially.
static _Thread_local int inside_region;

static uint64_t now_nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// Claims and runs indices of region `generation` until none is left.
static void run_claims(uint32_t generation) {
    uint64_t ticket = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(ticket >> 32) != generation) return;
        uint32_t count = (uint32_t)(ticket >> 16) & 0xffff, index = (uint32_t)ticket & 0xffff;
        if (index >= count) return;
        if (atomic_compare_exchange_weak_explicit(&pool.ticket, &ticket, ticket + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            // The region cannot end before this index is done, so its task and context are still the owner's.
            pool.task(pool.context, index);
            atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
            ticket = atomic_load_explicit(&pool.ticket, memory_order_acquire);
        }
    }
}

// Waits for a region newer than `seen`: polls for spin_nanoseconds, then sleeps.
static uint32_t await_region(uint32_t seen) {
    uint64_t start = now_nanoseconds();
    for (unsigned polls = 1;; polls++) {
        uint32_t generation = (uint32_t)(atomic_load_explicit(&pool.ticket, memory_order_acquire) >> 32);
        if (generation != seen) return generation;
        CPU_RELAX();
        if (polls % 64 == 0 && now_nanoseconds() - start > spin_nanoseconds) break;
    }
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);  // sequentially consistent with the owner's ticket store and check
    uint32_t generation;
    while ((generation = (uint32_t)(atomic_load(&pool.ticket) >> 32)) == seen) {
        pthread_cond_wait(&pool.wake, &pool.lock);
    }
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return generation;
}

static void *worker_main(void *unused) {
    (void)unused;
    inside_region = 1;
    uint32_t seen = 0;
    for (;;) {
        seen = await_region(seen);
        run_claims(seen);
    }
    return NULL;
}

// Starts workers until there are `wanted` (called by the owner, so never concurrently).
static void start_workers(int wanted) {
    while (pool.workers < wanted && pool.workers < max_workers) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, worker_main, NULL);
        pthread_attr_destroy(&attributes);
        if (failed) return;  // fewer workers: the owner claims the rest itself
        pool.workers++;
    }
}

static void run_serially(long count, tessera_task task, void *context) {
    for (long i = 0; i < count; i++) task(context, i);
}

void tessera_parallel_for(long count, int threads, tessera_task task, void *context) {
    if (count <= 0) return;
    if (count == 1 || threads < 2 || count > 0xffff || inside_region || pthread_mutex_trylock(&pool.owner) != 0) {
        run_serially(count, task, context);
        return;
    }
    start_workers(threads - 1);
    pool.task = task;
    pool.context = context;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    uint32_t generation = ++pool.generation;
    if (generation == 0) generation = ++pool.generation;  // 0 is the workers' initial "seen"
    atomic_store(&pool.ticket, (uint64_t)generation << 32 | (uint64_t)count << 16);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    inside_region = 1;
    run_claims(generation);
    inside_region = 0;
    // Every index is claimed; wait for the workers still running theirs.
    for (unsigned polls = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < count; polls++) {
        CPU_RELAX();
        if (polls % 1024 == 0) sched_yield();
    }
    pthread_mutex_unlock(&pool.owner);
}
