// A stride-1 convolution kernel for float32 on AVX-512: the shifted-GEMM formulation of
// Tensor's Convolution.swift (one product per kernel tap over the zero-padded image) fused into
// one register-tiled loop, so each output tile is accumulated over all taps and channels in
// registers instead of being read and written once per tap by separate small-K GEMMs.
#include "FastKernels.h"

#include <stdint.h>

enum { TILE_O = TESSERA_CONV_TILE_CHANNELS, TILE_P = TESSERA_CONV_TILE_PIXELS };

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

void tessera_pad_transpose_f32(const float *image, size_t c, size_t h, size_t w, size_t ph, size_t pw, size_t rows,
                               float *transposed) {
    size_t wp = w + 2 * pw;
    for (size_t i = 0; i < rows * c; i++) transposed[i] = 0.0f;
    for (size_t y = 0; y < h; y++)
        for (size_t ci = 0; ci < c; ci++) {
            const float *src = image + (ci * h + y) * w;
            float *dst = transposed + ((y + ph) * wp + pw) * c + ci;
            for (size_t x = 0; x < w; x++) dst[x * c] = src[x];
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
/* ∂W: vectorised over 64 input channels of the transposed padded image, 6 output channels per
   tile (24 accumulators), summed over all pixels without horizontal reductions. */
__attribute__((target("avx512f")))
void tessera_shifted_conv_weight_grad_f32(const float *gy, const float *transposed, float *gw, size_t t, size_t o,
                                          size_t c, size_t length, const size_t *offsets) {
    enum { ROWS = 6 };
    for (size_t c0 = 0; c0 < c; c0 += 64) {
        ptrdiff_t rest = (ptrdiff_t)(c - c0);
        __mmask16 m[4] = {lanes(rest), lanes(rest - 16), lanes(rest - 32), lanes(rest - 48)};
        for (size_t k = 0; k < t; k++) {
            for (size_t o0 = 0; o0 < o; o0 += ROWS) {
                size_t rows = o - o0 < ROWS ? o - o0 : ROWS;
                const float *g[ROWS];
                for (size_t j = 0; j < ROWS; j++) g[j] = gy + (o0 + (j < rows ? j : rows - 1)) * length;
                __m512 acc[ROWS][4];
                for (int j = 0; j < ROWS; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = _mm512_setzero_ps();
                const float *x = transposed + offsets[k] * c + c0;
                for (size_t p = 0; p < length; p++, x += c) {
                    __m512 x0 = _mm512_maskz_loadu_ps(m[0], x), x1 = _mm512_maskz_loadu_ps(m[1], x + 16);
                    __m512 x2 = _mm512_maskz_loadu_ps(m[2], x + 32), x3 = _mm512_maskz_loadu_ps(m[3], x + 48);
                    for (int j = 0; j < ROWS; j++) {
                        __m512 gj = _mm512_set1_ps(g[j][p]);
                        acc[j][0] = _mm512_fmadd_ps(gj, x0, acc[j][0]);
                        acc[j][1] = _mm512_fmadd_ps(gj, x1, acc[j][1]);
                        acc[j][2] = _mm512_fmadd_ps(gj, x2, acc[j][2]);
                        acc[j][3] = _mm512_fmadd_ps(gj, x3, acc[j][3]);
                    }
                }
                for (size_t j = 0; j < rows; j++) {
                    float *d = gw + (k * o + o0 + j) * c + c0;
                    for (int v = 0; v < 4; v++)
                        _mm512_mask_storeu_ps(d + 16 * v, m[v],
                                              _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], d + 16 * v), acc[j][v]));
                }
            }
        }
    }
}
#else
int tessera_shifted_conv_available(void) { return 0; }
void tessera_shifted_conv_weight_grad_f32(const float *gy, const float *transposed, float *gw, size_t t, size_t o,
                                          size_t c, size_t length, const size_t *offsets) {
    (void)gy, (void)transposed, (void)gw, (void)t, (void)o, (void)c, (void)length, (void)offsets;
}
void tessera_shifted_conv_f32(const float *packed, const float *input, float *output, size_t t, size_t o, size_t c,
                              size_t length, size_t plane, const size_t *offsets) {
    (void)packed, (void)input, (void)output, (void)t, (void)o, (void)c, (void)length, (void)plane, (void)offsets;
}
#endif
