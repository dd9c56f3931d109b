// Stride-1 convolution loops for float32 on AVX-512 and on AVX2 + FMA: the shifted-GEMM
// formulation of Tensor's Convolution.swift (one product per kernel tap over the zero-padded
// image) fused into one register-tiled loop, so each output tile is accumulated over all taps and
// channels in registers instead of being read and written once per tap by separate small-K GEMMs.
// Each level's tile fills its register file (32 zmm: 8 channels × 48 pixels, or 12 × 32; 16 ymm: 6 × 16).
#include "FastKernels.h"
#include "Levels.h"

#include <stdint.h>

void tessera_pack_conv_taps_f32(const float *taps, size_t t, size_t o, size_t c, size_t block, int taps_inner,
                                float *packed) {
    size_t blocks = (o + block - 1) / block;
    for (size_t b = 0; b < blocks; b++)
        for (size_t k = 0; k < t; k++)
            for (size_t ci = 0; ci < c; ci++)
                for (size_t j = 0; j < block; j++) {
                    size_t oi = b * block + j, step = taps_inner ? ci * t + k : k * c + ci;
                    packed[(b * t * c + step) * block + j] = oi < o ? taps[(k * o + oi) * c + ci] : 0.0f;
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

static inline __mmask16 lanes(ptrdiff_t remaining) {
    return remaining >= 16 ? (__mmask16)0xFFFF : remaining <= 0 ? (__mmask16)0 : (__mmask16)((1u << remaining) - 1);
}

/* Output channels per packed block on AVX-512: 8 (an 8 × 48-pixel tile), or 12 (12 × 32) for a multiple of 12
   that 8 does not divide, which 8-channel blocks would pad to 16 (compare's ResNet's 12-channel stem and first
   stage). */
size_t tessera_conv_block_avx512(size_t o) { return o % 8 != 0 && o % 12 == 0 ? 12 : 8; }

/* One R-channel × V-vector output tile over all taps and channels (R·V = 24 accumulators); R and V are constants
   at each call (always_inline), so the accumulators stay in registers. */
__attribute__((target("avx512f"), always_inline))
static inline void conv_tile_avx512(const int R, const int V, const float *w, const float *input, float *output,
                                    size_t t, size_t c, size_t length, size_t plane, const size_t *offsets,
                                    size_t p0, size_t rows) {
#define UNROLL _Pragma("clang loop unroll(full)")
    ptrdiff_t rest = (ptrdiff_t)(length - p0);
    const __mmask16 m[3] = {lanes(rest), lanes(rest - 16), lanes(rest - 32)};
    __m512 acc[12][3];
    UNROLL for (int j = 0; j < R; j++)
        UNROLL for (int v = 0; v < V; v++) acc[j][v] = _mm512_setzero_ps();
    for (size_t k = 0; k < t; k++) {
        const float *src = input + offsets[k] + p0;
        for (size_t ci = 0; ci < c; ci++, w += R) {
            const float *s = src + ci * plane;
            __m512 x[3];
            UNROLL for (int v = 0; v < V; v++) x[v] = _mm512_maskz_loadu_ps(m[v], s + 16 * v);
            UNROLL for (int j = 0; j < R; j++) {
                __m512 wj = _mm512_set1_ps(w[j]);
                UNROLL for (int v = 0; v < V; v++) acc[j][v] = _mm512_fmadd_ps(wj, x[v], acc[j][v]);
            }
        }
    }
    UNROLL for (int j = 0; j < R; j++)
        if ((size_t)j < rows)
            UNROLL for (int v = 0; v < V; v++)
                _mm512_mask_storeu_ps(output + j * length + p0 + 16 * v, m[v], acc[j][v]);
#undef UNROLL
}

__attribute__((target("avx512f")))
void tessera_shifted_conv_f32_avx512(const float *packed, const float *input, float *output, size_t t, size_t o,
                                     size_t c, size_t length, size_t plane, const size_t *offsets) {
    const size_t block = tessera_conv_block_avx512(o), tile = block == 12 ? 32 : 48;
    for (size_t p0 = 0; p0 < length; p0 += tile)
        for (size_t o0 = 0; o0 < o; o0 += block) {
            const float *w = packed + o0 * t * c;
            size_t rows = o - o0 < block ? o - o0 : block;
            if (block == 12) conv_tile_avx512(12, 2, w, input, output + o0 * length, t, c, length, plane, offsets,
                                              p0, rows);
            else conv_tile_avx512(8, 3, w, input, output + o0 * length, t, c, length, plane, offsets, p0, rows);
        }
}
/* ∂W: one tile of R output channels × V vectors of 16 input channels of the transposed padded image (R·V = 24
   accumulators), summed over all pixels without horizontal reductions. `g` holds the R channels' output gradients
   interleaved ([pixel][R], packed by the caller) so that each broadcast reads the next float of one stream. R and V
   are constants at each call (always_inline), so the accumulators stay in registers. */
__attribute__((target("avx512f"), always_inline))
static inline void weight_grad_tile_avx512(const int R, const int V, const float *g, const float *x, size_t c,
                                           size_t length, float *d, size_t rows, const __mmask16 *m) {
    __m512 acc[24][4];
#define UNROLL _Pragma("clang loop unroll(full)")
    UNROLL for (int j = 0; j < R; j++)
        UNROLL for (int v = 0; v < V; v++) acc[j][v] = _mm512_setzero_ps();
    for (size_t p = 0; p < length; p++, x += c, g += R) {
        __m512 xv[4];
        UNROLL for (int v = 0; v < V; v++) xv[v] = _mm512_maskz_loadu_ps(m[v], x + 16 * v);
        UNROLL for (int j = 0; j < R; j++) {
            __m512 gj = _mm512_set1_ps(g[j]);
            UNROLL for (int v = 0; v < V; v++) acc[j][v] = _mm512_fmadd_ps(gj, xv[v], acc[j][v]);
        }
    }
    UNROLL for (int j = 0; j < R; j++)
        if ((size_t)j < rows)
            UNROLL for (int v = 0; v < V; v++)
                _mm512_mask_storeu_ps(d + j * c + 16 * v, m[v],
                                      _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], d + j * c + 16 * v), acc[j][v]));
#undef UNROLL
}

/* ∂W over groups of up to 64 input channels. A group of 64 takes 6 output channels per tile; a narrower one (the
   last of 70 channels, or all of a 12-channel layer) fewer vectors and more output channels, so that the
   accumulators stay 24 full-width registers instead of 24 mostly masked ones (12 channels: 19% → 75% of the
   lanes). */
__attribute__((target("avx512f")))
void tessera_shifted_conv_weight_grad_f32_avx512(const float *gy, const float *transposed, float *gw, size_t t,
                                                 size_t o, size_t c, size_t length, const size_t *offsets,
                                                 float *g) {
    for (size_t c0 = 0; c0 < c; c0 += 64) {
        ptrdiff_t rest = (ptrdiff_t)(c - c0);
        /* 12 output channels or fewer with one vector: a 12-row tile, not a half-empty 24-row one. */
        const int V = rest >= 64 ? 4 : (int)((rest + 15) / 16), R = V == 1 && o <= 12 ? 12 : 24 / V;
        __mmask16 m[4] = {lanes(rest), lanes(rest - 16), lanes(rest - 32), lanes(rest - 48)};
        for (size_t o0 = 0; o0 < o; o0 += (size_t)R) {
            size_t rows = o - o0 < (size_t)R ? o - o0 : (size_t)R;
            for (size_t p = 0; p < length; p++)
                for (size_t j = 0; j < (size_t)R; j++) g[p * R + j] = j < rows ? gy[(o0 + j) * length + p] : 0.0f;
            for (size_t k = 0; k < t; k++) {
                const float *x = transposed + offsets[k] * c + c0;
                float *d = gw + (k * o + o0) * c + c0;
                switch (V) {
                case 1:
                    if (R == 12) weight_grad_tile_avx512(12, 1, g, x, c, length, d, rows, m);
                    else weight_grad_tile_avx512(24, 1, g, x, c, length, d, rows, m);
                    break;
                case 2: weight_grad_tile_avx512(12, 2, g, x, c, length, d, rows, m); break;
                case 3: weight_grad_tile_avx512(8, 3, g, x, c, length, d, rows, m); break;
                default: weight_grad_tile_avx512(6, 4, g, x, c, length, d, rows, m); break;
                }
            }
        }
    }
}

/* AVX2: the first `remaining` of 8 lanes. */
__attribute__((target("avx2,fma")))
static inline __m256i lanes8(ptrdiff_t remaining) {
    int r = remaining >= 8 ? 8 : remaining <= 0 ? 0 : (int)remaining;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* One 6-channel × 16-pixel output tile over all taps and channels: 12 accumulators, two input
   vectors and the broadcast fill 15 of the 16 ymm registers (a 4 × 24 tile needs one more, and the
   spill it forces serialises the loop: half the speed). The accumulators are named variables, not
   an array: with `acc[6][2]` clang at -O2 kept seven of them on the stack inside the loop, and the
   store-to-load round trips made this loop slower than OpenBLAS's per-tap GEMMs. `masked` is a
   constant at each call, so full tiles use plain loads and stores. */
__attribute__((target("avx2,fma"), always_inline))
static inline void conv_tile_avx2(const float *w, const float *input, float *output, size_t t, size_t c,
                                  size_t length, size_t plane, const size_t *offsets, size_t p0, size_t channels,
                                  const int masked, __m256i m0, __m256i m1) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    const float *src = input + p0;
    for (size_t ci = 0; ci < c; ci++, src += plane)
        for (size_t k = 0; k < t; k++, w += 6) {
            const float *x = src + offsets[k];
            __m256 x0 = masked ? _mm256_maskload_ps(x, m0) : _mm256_loadu_ps(x);
            __m256 x1 = masked ? _mm256_maskload_ps(x + 8, m1) : _mm256_loadu_ps(x + 8);
            __m256 v;
#define ROW(j) \
    v = _mm256_broadcast_ss(w + j), a##j = _mm256_fmadd_ps(v, x0, a##j), b##j = _mm256_fmadd_ps(v, x1, b##j)
            ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);
#undef ROW
        }
    __m256 acc[6][2] = {{a0, b0}, {a1, b1}, {a2, b2}, {a3, b3}, {a4, b4}, {a5, b5}};
    for (size_t j = 0; j < channels && j < 6; j++) {
        float *d = output + j * length + p0;
        if (masked) {
            _mm256_maskstore_ps(d, m0, acc[j][0]);
            _mm256_maskstore_ps(d + 8, m1, acc[j][1]);
        } else {
            _mm256_storeu_ps(d, acc[j][0]);
            _mm256_storeu_ps(d + 8, acc[j][1]);
        }
    }
}

/* AVX2's blocks are always 6 output channels (its tile: 6 × 16 pixels). */
size_t tessera_conv_block_avx2(size_t o) { (void)o; return 6; }

/* The same contract as the AVX-512 loop, on taps packed in blocks of 6 channels. */
__attribute__((target("avx2,fma")))
void tessera_shifted_conv_f32_avx2(const float *packed, const float *input, float *output, size_t t, size_t o,
                                   size_t c, size_t length, size_t plane, const size_t *offsets) {
    enum { ROWS = 6, PIXELS = 16 };
    size_t blocks = (o + ROWS - 1) / ROWS;
    __m256i none = _mm256_setzero_si256();
    for (size_t p0 = 0; p0 < length; p0 += PIXELS) {
        ptrdiff_t rest = (ptrdiff_t)(length - p0);
        __m256i m0 = lanes8(rest), m1 = lanes8(rest - 8);
        for (size_t b = 0; b < blocks; b++) {
            size_t channels = o - b * ROWS < ROWS ? o - b * ROWS : ROWS;
            const float *w = packed + b * t * c * ROWS;
            float *d = output + b * ROWS * length;
            if (rest >= PIXELS)
                conv_tile_avx2(w, input, d, t, c, length, plane, offsets, p0, channels, 0, none, none);
            else
                conv_tile_avx2(w, input, d, t, c, length, plane, offsets, p0, channels, 1, m0, m1);
        }
    }
}

/* ∂W on AVX2: 16 input channels (two vectors) × 6 output channels per tile, 12 accumulators. */
__attribute__((target("avx2,fma"), always_inline))
static inline void weight_grad_tile_avx2(const float *const *g, const float *x, float *gw, size_t rows, size_t c,
                                         size_t length, const int masked, __m256i m0, __m256i m1) {
    enum { ROWS = 6 };
    __m256 acc[ROWS][2];
    for (int j = 0; j < ROWS; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    for (size_t p = 0; p < length; p++, x += c) {
        __m256 x0 = masked ? _mm256_maskload_ps(x, m0) : _mm256_loadu_ps(x);
        __m256 x1 = masked ? _mm256_maskload_ps(x + 8, m1) : _mm256_loadu_ps(x + 8);
        for (int j = 0; j < ROWS; j++) {
            __m256 gj = _mm256_broadcast_ss(g[j] + p);
            acc[j][0] = _mm256_fmadd_ps(gj, x0, acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(gj, x1, acc[j][1]);
        }
    }
    for (size_t j = 0; j < ROWS; j++) {
        if (j >= rows) break;
        float *d = gw + j * c;
        if (masked) {
            _mm256_maskstore_ps(d, m0, _mm256_add_ps(_mm256_maskload_ps(d, m0), acc[j][0]));
            _mm256_maskstore_ps(d + 8, m1, _mm256_add_ps(_mm256_maskload_ps(d + 8, m1), acc[j][1]));
        } else {
            _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), acc[j][0]));
            _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), acc[j][1]));
        }
    }
}

__attribute__((target("avx2,fma")))
void tessera_shifted_conv_weight_grad_f32_avx2(const float *gy, const float *transposed, float *gw, size_t t,
                                               size_t o, size_t c, size_t length, const size_t *offsets,
                                               float *scratch) {
    (void)scratch;  /* AVX2's tile reads gy's rows directly */
    enum { ROWS = 6 };
    __m256i none = _mm256_setzero_si256();
    for (size_t c0 = 0; c0 < c; c0 += 16) {
        ptrdiff_t rest = (ptrdiff_t)(c - c0);
        __m256i m0 = lanes8(rest), m1 = lanes8(rest - 8);
        for (size_t k = 0; k < t; k++)
            for (size_t o0 = 0; o0 < o; o0 += ROWS) {
                size_t rows = o - o0 < ROWS ? o - o0 : ROWS;
                const float *g[ROWS];
                for (size_t j = 0; j < ROWS; j++) g[j] = gy + (o0 + (j < rows ? j : rows - 1)) * length;
                const float *x = transposed + offsets[k] * c + c0;
                float *d = gw + (k * o + o0) * c + c0;
                if (rest >= 16)
                    weight_grad_tile_avx2(g, x, d, rows, c, length, 0, none, none);
                else
                    weight_grad_tile_avx2(g, x, d, rows, c, length, 1, m0, m1);
            }
    }
}
#endif
