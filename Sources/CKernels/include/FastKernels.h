// Compute-bound float32 kernels compiled once per CPU level (AVX-512, AVX2, baseline) and
// picked at load time (target_clones), so the package needs no unsafe flags and runs anywhere.
// The math is the same as Tensor's SIMD16 Swift versions (FastMath.swift).
#ifndef TESSERA_FAST_KERNELS_H
#define TESSERA_FAST_KERNELS_H
#include <stddef.h>

void tessera_exp_f32(const float *x, float *y, size_t n);
void tessera_gelu_f32(const float *x, float *y, size_t n);
void tessera_gelu_derivative_f32(const float *x, float *y, size_t n);
/// y = g · GELU'(x): the backward of GELU in one pass.
void tessera_gelu_backward_f32(const float *x, const float *g, float *y, size_t n);
/// Softmax (log = 0) or log-softmax (log = 1) over each of `rows` contiguous rows of length n.
void tessera_softmax_rows_f32(const float *x, float *y, size_t rows, size_t n, int log);
/// Sum of n floats: blocks of 4096 in 64 float lanes, the block sums added in double (rounding
/// error near pairwise summation at the speed of one pass).
double tessera_sum_f32(const float *x, size_t n);
/// Returns the name of the clone the loader picked, for benchmarks ("avx512", "avx2", "baseline").
const char *tessera_fast_kernels_level(void);

#endif
