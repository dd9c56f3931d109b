// A stride-1 convolution kernel for float32 on AVX-512: the shifted-GEMM formulation of
// Tensor's Convolution.swift (one product per kernel tap over the zero-padded image) fused into
// one register-tiled loop, so each output tile is accumulated over all taps and channels in
// registers instead of being read and written once per tap by separate small-K GEMMs.
#include "FastKernels.h"

#include <stdint.h>

enum { TILE_O = 8, TILE_P = 48 };

void tessera_pack_conv_taps_f32(const float *taps, size_t t, size_t o, size_t c, float *packed) {
    size_t blocks = (o + TILE_O - 1) / TILE_O;
    for (size_t b = 0; b < blocks; b++)
        for (size_t k = 0; k < t; k++)
            for (size_t ci = 0; ci < c; ci++)
                for (size_t j = 0; j < TILE_O; j++) {
                    size_t oi = b * TILE_O + j;
                    packed[((b * t + k) * c + ci) * TILE_O + j] = oi < o ? taps[(k * o + oi) * c + ci] : 0.0f;
                }
}

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

int tessera_shifted_conv_available(void) { return __builtin_cpu_supports("avx512f"); }

static inline __mmask16 lanes(ptrdiff_t remaining) {
    return remaining >= 16 ? (__mmask16)0xFFFF : remaining <= 0 ? (__mmask16)0 : (__mmask16)((1u << remaining) - 1);
}

__attribute__((target("avx512f")))
void tessera_shifted_conv_f32(const float *packed, const float *input, float *output, size_t t, size_t o, size_t c,
                              size_t length, size_t plane, const size_t *offsets) {
    size_t blocks = (o + TILE_O - 1) / TILE_O;
    for (size_t p0 = 0; p0 < length; p0 += TILE_P) {
        ptrdiff_t rest = (ptrdiff_t)(length - p0);
        __mmask16 m0 = lanes(rest), m1 = lanes(rest - 16), m2 = lanes(rest - 32);
        for (size_t b = 0; b < blocks; b++) {
            __m512 acc[TILE_O][3];
            for (int j = 0; j < TILE_O; j++) acc[j][0] = acc[j][1] = acc[j][2] = _mm512_setzero_ps();
            const float *w = packed + b * t * c * TILE_O;
            for (size_t k = 0; k < t; k++) {
                const float *src = input + offsets[k] + p0;
                for (size_t ci = 0; ci < c; ci++, w += TILE_O) {
                    const float *s = src + ci * plane;
                    __m512 x0 = _mm512_maskz_loadu_ps(m0, s);
                    __m512 x1 = _mm512_maskz_loadu_ps(m1, s + 16);
                    __m512 x2 = _mm512_maskz_loadu_ps(m2, s + 32);
                    for (int j = 0; j < TILE_O; j++) {
                        __m512 wj = _mm512_set1_ps(w[j]);
                        acc[j][0] = _mm512_fmadd_ps(wj, x0, acc[j][0]);
                        acc[j][1] = _mm512_fmadd_ps(wj, x1, acc[j][1]);
                        acc[j][2] = _mm512_fmadd_ps(wj, x2, acc[j][2]);
                    }
                }
            }
            for (int j = 0; j < TILE_O && b * TILE_O + j < o; j++) {
                float *d = output + (b * TILE_O + j) * length + p0;
                _mm512_mask_storeu_ps(d, m0, acc[j][0]);
                _mm512_mask_storeu_ps(d + 16, m1, acc[j][1]);
                _mm512_mask_storeu_ps(d + 32, m2, acc[j][2]);
            }
        }
    }
}
#else
int tessera_shifted_conv_available(void) { return 0; }
void tessera_shifted_conv_f32(const float *packed, const float *input, float *output, size_t t, size_t o, size_t c,
                              size_t length, size_t plane, const size_t *offsets) {
    (void)packed, (void)input, (void)output, (void)t, (void)o, (void)c, (void)length, (void)plane, (void)offsets;
}
#endif
