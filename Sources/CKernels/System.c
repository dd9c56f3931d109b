// The CPUs this process may run on: sched_getaffinity needs _GNU_SOURCE, which Swift's Glibc lacks.
#define _GNU_SOURCE
#include <sched.h>

#include "FastKernels.h"

int tessera_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    return CPU_COUNT(&set);
}
