// The fused convolution loops of each vector level (Convolution.c), gathered into the level
// tables by FastKernels.c.
#ifndef TESSERA_LEVELS_H
#define TESSERA_LEVELS_H
#include <stddef.h>

#if defined(__x86_64__) && defined(__clang__)
size_t tessera_conv_block_avx512(size_t o);
size_t tessera_conv_block_avx2(size_t o);
void tessera_shifted_conv_f32_avx512(const float *packed, const float *input, float *output, size_t t, size_t o,
                                     size_t c, size_t length, size_t plane, const size_t *offsets);
void tessera_shifted_conv_weight_grad_f32_avx512(const float *gy, const float *transposed, float *gw, size_t t,
                                                 size_t o, size_t c, size_t length, const size_t *offsets,
                                                 float *scratch);
void tessera_shifted_conv_f32_avx2(const float *packed, const float *input, float *output, size_t t, size_t o,
                                   size_t c, size_t length, size_t plane, const size_t *offsets);
void tessera_shifted_conv_weight_grad_f32_avx2(const float *gy, const float *transposed, float *gw, size_t t,
                                               size_t o, size_t c, size_t length, const size_t *offsets,
                                               float *scratch);
#endif

#endif
