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
/// Layer norm of `rows` rows of n floats: per-row mean and 1/sqrt(biased variance + eps) into
/// `mean` and `rstd`, and y = (x − mean)·rstd·w + b (`w`, `b` may be NULL).
void tessera_layer_norm_rows_f32(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                                 size_t rows, size_t n, float eps);
/// Its backward for `rows` rows: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·w, and
/// dw += Σ g·x̂, db += Σ g (this caller's partials); `scratch` holds n floats.
void tessera_layer_norm_backward_rows_f32(const float *g, const float *x, const float *mean, const float *rstd,
                                          const float *w, float *dx, float *dw, float *db, float *scratch,
                                          size_t rows, size_t n);
/// Batch norm of one channel whose values are `planes` runs of n floats, `stride` apart (the
/// channel of an [N, C, …] tensor). With `compute_statistics` the channel's mean and biased
/// variance go to *mean and *var (two passes, double sums); otherwise they are read from there.
/// y = (x − mean)/sqrt(var + eps)·w + b, at the same offsets as x.
void tessera_batch_norm_channel_f32(const float *x, float *y, size_t planes, size_t n, size_t stride, float w, float b,
                                    float eps, int compute_statistics, float *mean, float *var);
/// Its backward: *db = Σ g, *dw = Σ g·x̂ with x̂ = (x − mean)·rstd, and dx = w·rstd·g, minus
/// w·rstd·(Σ g + x̂·Σ g·x̂)/count when the statistics came from the batch.
void tessera_batch_norm_backward_channel_f32(const float *g, const float *x, float *dx, size_t planes, size_t n,
                                             size_t stride, float mean, float rstd, float w, int batch_statistics,
                                             float *dw, float *db);
/// The fused convolution loop's register tile: output channels × pixels (three 16-float vectors).
enum { TESSERA_CONV_TILE_CHANNELS = 8, TESSERA_CONV_TILE_PIXELS = 48 };
/// Whether this CPU runs tessera_shifted_conv_f32 (AVX-512).
int tessera_shifted_conv_available(void);
/// Taps [t, o, c] packed for tessera_shifted_conv_f32: [ceil(o/8), t, c, 8], zero rows past o.
void tessera_pack_conv_taps_f32(const float *taps, size_t t, size_t o, size_t c, float *packed);
/// output[oi, p] = Σ over taps k and channels ci of taps[k, oi, ci] · input[ci·plane + offsets[k] + p]
/// for p < length: a stride-1 convolution over a zero-padded image (see Convolution.swift).
void tessera_shifted_conv_f32(const float *packed, const float *input, float *output, size_t t, size_t o, size_t c,
                              size_t length, size_t plane, const size_t *offsets);
/// The image [c, h, w] zero-padded to [h + 2ph, w + 2pw] and transposed to rows of c channels:
/// `rows` × c floats (rows ≥ the padded plane; the rest zero).
void tessera_pad_transpose_f32(const float *image, size_t c, size_t h, size_t w, size_t ph, size_t pw, size_t rows,
                               float *transposed);
/// gw[k, oi, ci] += Σ over p < length of gy[oi, p] · transposed[offsets[k] + p, ci]: the weight
/// gradient of tessera_shifted_conv_f32 (gy at padded width with zero tail columns). AVX-512 only.
void tessera_shifted_conv_weight_grad_f32(const float *gy, const float *transposed, float *gw, size_t t, size_t o,
                                          size_t c, size_t length, const size_t *offsets);
/// Returns the name of the clone the loader picked, for benchmarks ("avx512", "avx2", "baseline").
const char *tessera_fast_kernels_level(void);

/// The number of CPUs in this process's affinity mask, or -1 where it cannot be read.
int tessera_affinity_cpu_count(void);

#endif
