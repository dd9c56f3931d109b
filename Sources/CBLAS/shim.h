// OpenBLAS's CBLAS interface (sgemm/dgemm, openblas_set_num_threads) and LAPACKE.
#include <cblas.h>
#include <lapacke.h>
