// Compute-bound float32 kernels compiled once per CPU level (AVX-512, AVX2 + FMA, baseline x86-64)
// from one source, KernelBodies.h, under each level's target attribute: the package needs no
// unsafe flags, runs anywhere, and keeps every level callable (Tensor's KernelLevel picks one).
// The math is the same as Tensor's SIMD16 Swift versions (FastMath.swift).
#include "FastKernels.h"
#include "Levels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Helpers are inlined into each level's kernels and compiled with that level's instructions. */
#define INLINE static inline __attribute__((always_inline))

static inline float bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* exp with |r| <= ln2/2 and a degree-6 polynomial; the same clamps as simdExp. */
INLINE float fast_exp(float input) {
    float x = input > 88.37626f ? 88.37626f : input;
    x = x < -87.33654f ? -87.33654f : x;
    const float magic = 12582912.0f;
    float shifted = x * 1.44269504f + magic;
    float n = shifted - magic;
    float r = x - n * 0.69314575f - n * 1.4286068e-6f;
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1;
    p = p * r + 1;
    int32_t ni = (int32_t)float_to_bits(shifted) - (int32_t)float_to_bits(magic);
    float y = p * bits_to_float((uint32_t)(ni + 127) << 23);
    y = input < -87.33654f ? 0.0f : y;
    return input > 88.72283f ? __builtin_inff() : y;
}

/* exp(p - a^2/2) with a^2/2 split exactly (see simdExpMinusHalfSquare). */
INLINE float exp_minus_half_square(float a, float p) {
    float ah = bits_to_float(float_to_bits(a) & 0xFFFFF000u);
    float al = a - ah;
    float r = -0.5f * al * (ah + ah + al);
    float er = 1.0f / 24;
    er = er * r + 1.0f / 6;
    er = er * r + 0.5f;
    er = er * r + 1;
    er = er * r + 1;
    return fast_exp(p - 0.5f * ah * ah) * er;
}

/* 2·Phi(-a) = erfc(a/sqrt 2) for a >= 0 (Numerical Recipes' Chebyshev fit). */
INLINE float gaussian_tail(float a) {
    float t = 1 / (1 + 0.35355339f * a);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * exp_minus_half_square(a, p);
}

INLINE float phi(float x) {
    float half = 0.5f * gaussian_tail(x < 0 ? -x : x);
    return x > 0 ? 1 - half : half;
}

INLINE float gelu_derivative(float x) {
    float a = x < 0 ? -x : x;
    return phi(x) + x * 0.39894228f * exp_minus_half_square(a, 0);
}

typedef float float16v __attribute__((ext_vector_type(16)));

/* Sum of n floats with 16 independent lanes (a plain loop stays serial without reassociation). */
INLINE float sum_f32(const float *x, size_t n) {
    float16v acc = 0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float16v v;
        memcpy(&v, x + i, sizeof v);
        acc += v;
    }
    float s = 0;
    for (int k = 0; k < 16; k++) s += acc[k];
    for (; i < n; i++) s += x[i];
    return s;
}

INLINE float dot_f32(const float *a, const float *b, size_t n) {
    float16v acc = 0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float16v u, v;
        memcpy(&u, a + i, sizeof u);
        memcpy(&v, b + i, sizeof v);
        acc += u * v;
    }
    float s = 0;
    for (int k = 0; k < 16; k++) s += acc[k];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Σ (x − mu)² over n floats. */
INLINE float squared_deviations_f32(const float *x, size_t n, float mu) {
    float16v acc = 0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float16v v;
        memcpy(&v, x + i, sizeof v);
        v -= mu;
        acc += v * v;
    }
    float s = 0;
    for (int k = 0; k < 16; k++) s += acc[k];
    for (; i < n; i++) s += (x[i] - mu) * (x[i] - mu);
    return s;
}

#define CONCAT_(a, b) a##_##b
#define CONCAT(a, b) CONCAT_(a, b)
#define LEVEL(name) CONCAT(name, SUFFIX)

#define SUFFIX baseline
#define PEAK_LANES 4
#include "KernelBodies.h"
#undef PEAK_LANES
#undef SUFFIX

#if defined(__x86_64__) && defined(__clang__)
#define SUFFIX avx2
#define PEAK_LANES 8
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include "KernelBodies.h"
#undef PEAK_LANES
#pragma clang attribute pop
#undef SUFFIX

#define SUFFIX avx512
#define PEAK_LANES 16
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#include "KernelBodies.h"
#undef PEAK_LANES
#pragma clang attribute pop
#undef SUFFIX
#endif

#define TABLE(level, conv, conv_weight_grad, conv_block, tile_pixels, taps_inner) {                       \
    #level, exp_##level, gelu_##level, gelu_derivative_##level, gelu_backward_##level,                     \
    softmax_rows_##level, sum_##level, layer_norm_rows_##level, layer_norm_backward_rows_##level,          \
    batch_norm_channel_##level, batch_norm_backward_channel_##level, max_pool_plane_##level,               \
    adam_update_##level, conv, conv_weight_grad, conv_block, tile_pixels, taps_inner, fma_peak_##level }

static const TesseraKernels tables[] = {
    TABLE(baseline, NULL, NULL, NULL, 0, 0),
#if defined(__x86_64__) && defined(__clang__)
    TABLE(avx2, tessera_shifted_conv_f32_avx2, tessera_shifted_conv_weight_grad_f32_avx2,
          tessera_conv_block_avx2, 16, 1),
    TABLE(avx512, tessera_shifted_conv_f32_avx512, tessera_shifted_conv_weight_grad_f32_avx512,
          tessera_conv_block_avx512, 48, 0),
#endif
};

int tessera_cpu_level(void) {
#if defined(__x86_64__) && defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return TESSERA_LEVEL_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return TESSERA_LEVEL_AVX2;
#endif
    return TESSERA_LEVEL_BASELINE;
}

int tessera_requested_level(void) {
    const char *value = getenv("TESSERA_CPU_LEVEL");
    if (!value || !*value) return -1;
    for (int level = 0; level < 3; level++)
        if (strcmp(value, tessera_level_name(level)) == 0) return level;
    return -2;
}

const char *tessera_level_name(int level) {
    static const char *names[] = {"baseline", "avx2", "avx512"};
    return level >= 0 && level < 3 ? names[level] : "unknown";
}

const TesseraKernels *tessera_kernels(int level) {
    return level >= 0 && level <= tessera_cpu_level() ? &tables[level] : NULL;
}
