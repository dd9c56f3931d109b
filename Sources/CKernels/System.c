// sched_getaffinity and mremap's MREMAP_FIXED need _GNU_SOURCE, and mremap is variadic: Swift imports neither.
#define _GNU_SOURCE
#include <sched.h>
#include <sys/mman.h>

#include "FastKernels.h"

int tessera_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int tessera_move_pages(void *from, size_t size, void *to) {
    return mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to) == to ? 0 : -1;
}
