// oneDNN's row-major `dnnl_sgemm` (Debian's libdnnl-dev), which picks its kernels from the CPU's own ISA flags
// (AVX-512 where the CPU has it, whatever OPENBLAS_CORETYPE says). oneDNN threads with OpenMP (libgomp); Tessera
// keeps each call on one thread (omp_set_num_threads sets the calling thread's team size) and splits products
// across cores itself. Declared here because omp.h lives in GCC's private include directory, which Swift's Clang
// does not search.
#include <dnnl.h>
int omp_get_max_threads(void);
void omp_set_num_threads(int threads);
