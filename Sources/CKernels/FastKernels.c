#include "FastKernels.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__clang__)
#define CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define CLONES
#endif

static inline float bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* exp with |r| <= ln2/2 and a degree-6 polynomial; the same clamps as simdExp. */
static inline float fast_exp(float input) {
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
static inline float exp_minus_half_square(float a, float p) {
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
static inline float gaussian_tail(float a) {
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

static inline float phi(float x) {
    float half = 0.5f * gaussian_tail(x < 0 ? -x : x);
    return x > 0 ? 1 - half : half;
}

CLONES void tessera_exp_f32(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = fast_exp(x[i]);
}

CLONES void tessera_gelu_f32(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] * phi(x[i]);
}

static inline float gelu_derivative(float x) {
    float a = x < 0 ? -x : x;
    return phi(x) + x * 0.39894228f * exp_minus_half_square(a, 0);
}

CLONES void tessera_gelu_derivative_f32(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = gelu_derivative(x[i]);
}

CLONES void tessera_gelu_backward_f32(const float *x, const float *g, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = g[i] * gelu_derivative(x[i]);
}

/* The clone the loader picks follows the same CPU test. */
const char *tessera_fast_kernels_level(void) {
#if defined(__x86_64__) && defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
#endif
    return "baseline";
}

typedef float float16v __attribute__((ext_vector_type(16)));

/* Sum of n floats with 16 independent lanes (a plain loop stays serial without reassociation). */
static inline float sum_f32(const float *x, size_t n) {
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

/* Softmax (log = 0) or log-softmax (log = 1) of `rows` contiguous rows of length n. A NaN in a
   row makes the row NaN; a row of -inf uses shift 0, as the Swift kernel does. */
CLONES void tessera_softmax_rows_f32(const float *x, float *y, size_t rows, size_t n, int log) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float16v mv = -__builtin_inff();
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
            float16v v;
            memcpy(&v, xr + i, sizeof v);
            mv = v > mv ? v : mv;
        }
        float m = -__builtin_inff();
        for (int k = 0; k < 16; k++) m = mv[k] > m ? mv[k] : m;
        for (; i < n; i++) m = xr[i] > m ? xr[i] : m;
        int nan = 0;
        for (i = 0; i < n; i++) nan |= xr[i] != xr[i];
        if (nan) m = __builtin_nanf("");
        else if (m == -__builtin_inff()) m = 0;
        for (i = 0; i < n; i++) yr[i] = fast_exp(xr[i] - m);
        float s = sum_f32(yr, n);
        if (log) {
            /* (x - m) - log s, as PyTorch: m + log s would round at the scale of m. */
            float log_sum = __builtin_logf(s);
            for (i = 0; i < n; i++) yr[i] = (xr[i] - m) - log_sum;
        } else {
            float inv = 1 / s;
            for (i = 0; i < n; i++) yr[i] *= inv;
        }
    }
}

CLONES double tessera_sum_f32(const float *x, size_t n) {
    double total = 0;
    size_t i = 0;
    while (i + 64 <= n) {
        float16v a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        size_t end = n - 63 < i + 4096 ? n - 63 : i + 4096;
        for (; i < end; i += 64) {
            float16v v0, v1, v2, v3;
            memcpy(&v0, x + i, sizeof v0);
            memcpy(&v1, x + i + 16, sizeof v1);
            memcpy(&v2, x + i + 32, sizeof v2);
            memcpy(&v3, x + i + 48, sizeof v3);
            a0 += v0; a1 += v1; a2 += v2; a3 += v3;
        }
        float16v a = (a0 + a1) + (a2 + a3);
        float block = 0;
        for (int k = 0; k < 16; k++) block += a[k];
        total += block;
    }
    for (; i < n; i++) total += x[i];
    return total;
}

static inline float dot_f32(const float *a, const float *b, size_t n) {
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
static inline float squared_deviations_f32(const float *x, size_t n, float mu) {
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

CLONES void tessera_layer_norm_rows_f32(const float *x, const float *w, const float *b, float *y, float *mean,
                                        float *rstd, size_t rows, size_t n, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        /* Two passes (mean, then centred squares) keep the variance accurate. */
        float mu = sum_f32(xr, n) / (float)n;
        float inv = 1 / __builtin_sqrtf(squared_deviations_f32(xr, n, mu) / (float)n + eps);
        mean[r] = mu;
        rstd[r] = inv;
        if (w && b) {
            for (size_t i = 0; i < n; i++) yr[i] = (xr[i] - mu) * inv * w[i] + b[i];
        } else if (w) {
            for (size_t i = 0; i < n; i++) yr[i] = (xr[i] - mu) * inv * w[i];
        } else {
            for (size_t i = 0; i < n; i++) yr[i] = (xr[i] - mu) * inv;
        }
    }
}

CLONES void tessera_layer_norm_backward_rows_f32(const float *g, const float *x, const float *mean, const float *rstd,
                                                 const float *w, float *dx, float *dw, float *db, float *scratch,
                                                 size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *gr = g + r * n;
        float *dxr = dx + r * n;
        float mu = mean[r], inv = rstd[r];
        /* dx holds x̂ first, then the gradient. */
        for (size_t i = 0; i < n; i++) dxr[i] = (xr[i] - mu) * inv;
        for (size_t i = 0; i < n; i++) {
            dw[i] += gr[i] * dxr[i];
            db[i] += gr[i];
        }
        const float *gh = gr;
        if (w) {
            for (size_t i = 0; i < n; i++) scratch[i] = gr[i] * w[i];
            gh = scratch;
        }
        float meanG = sum_f32(gh, n) / (float)n, meanGX = dot_f32(gh, dxr, n) / (float)n;
        for (size_t i = 0; i < n; i++) dxr[i] = inv * (gh[i] - meanG - dxr[i] * meanGX);
    }
}

CLONES void tessera_batch_norm_channel_f32(const float *x, float *y, size_t planes, size_t n, size_t stride, float w,
                                           float b, float eps, int compute_statistics, float *mean, float *var) {
    if (compute_statistics) {
        /* Two passes (mean, then centred squares): the channel is usually in L2 for the second. */
        double s = 0;
        for (size_t p = 0; p < planes; p++) s += sum_f32(x + p * stride, n);
        float mu = (float)(s / (double)(planes * n));
        double ss = 0;
        for (size_t p = 0; p < planes; p++) ss += squared_deviations_f32(x + p * stride, n, mu);
        *mean = mu;
        *var = (float)(ss / (double)(planes * n));
    }
    float scale = w / __builtin_sqrtf(*var + eps), shift = b - *mean * scale;
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x + p * stride;
        float *yp = y + p * stride;
        for (size_t i = 0; i < n; i++) yp[i] = xp[i] * scale + shift;
    }
}

CLONES void tessera_batch_norm_backward_channel_f32(const float *g, const float *x, float *dx, size_t planes, size_t n,
                                                    size_t stride, float mean, float rstd, float w,
                                                    int batch_statistics, float *dw, float *db) {
    double sg = 0, sgx = 0;
    for (size_t p = 0; p < planes; p++) {
        sg += sum_f32(g + p * stride, n);
        sgx += dot_f32(g + p * stride, x + p * stride, n);
    }
    /* Σ g·x̂ = rstd·(Σ g·x − mean·Σ g), in double before the cancellation. */
    float gradBias = (float)sg, gradWeight = (float)((double)rstd * (sgx - (double)mean * sg));
    *db = gradBias;
    *dw = gradWeight;
    /* dx = a·g + c·x + d: the x̂ term expanded, so the pass reads g and x once. */
    float a = w * rstd, c = 0, d = 0;
    if (batch_statistics) {
        float count = (float)(planes * n);
        c = -a * rstd * gradWeight / count;
        d = -a * gradBias / count - c * mean;
    }
    for (size_t p = 0; p < planes; p++) {
        const float *gp = g + p * stride, *xp = x + p * stride;
        float *dxp = dx + p * stride;
        for (size_t i = 0; i < n; i++) dxp[i] = a * gp[i] + c * xp[i] + d;
    }
}
