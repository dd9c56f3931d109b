// The kernels of one CPU level, included once per level by FastKernels.c with LEVEL(name)
// naming that level's copy (exp_avx2, …) under that level's target attribute.

static void LEVEL(exp)(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = fast_exp(x[i]);
}

static void LEVEL(gelu)(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] * phi(x[i]);
}

static void LEVEL(gelu_derivative)(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = gelu_derivative(x[i]);
}

/* y may be g itself (the backward overwrites the gradient): the derivatives go to a local block, and the
   product is made in whole vectors, each loaded before it is stored, so the compiler's overlap check never
   sends an in-place call down its scalar path. */
static void LEVEL(gelu_backward)(const float *x, const float *g, float *y, size_t n) {
    float d[64];
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (size_t k = 0; k < 64; k++) d[k] = gelu_derivative(x[i + k]);
        for (size_t k = 0; k < 64; k += 16) {
            float16v gv, dv;
            memcpy(&gv, g + i + k, sizeof gv);
            memcpy(&dv, d + k, sizeof dv);
            gv *= dv;
            memcpy(y + i + k, &gv, sizeof gv);
        }
    }
    for (; i < n; i++) y[i] = g[i] * gelu_derivative(x[i]);
}

/* Softmax (log = 0) or log-softmax (log = 1) of `rows` contiguous rows of length n. A NaN in a
   row makes the row NaN; a row of -inf uses shift 0, as the Swift kernel does. */
static void LEVEL(softmax_rows)(const float *x, float *y, size_t rows, size_t n, int log) {
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

static double LEVEL(sum)(const float *x, size_t n) {
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

static void LEVEL(layer_norm_rows)(const float *x, const float *w, const float *b, float *y, float *mean,
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

static void LEVEL(layer_norm_backward_rows)(const float *g, const float *x, const float *mean, const float *rstd,
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

static void LEVEL(batch_norm_channel)(const float *x, const float *residual, float *y, size_t planes, size_t n,
                                      size_t stride, float w, float b, float eps, int compute_statistics, int relu,
                                      float *mean, float *var) {
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
        if (residual) {  /* rounded as the separate ops round: the norm, then the sum */
            const float *rp = residual + p * stride;
            for (size_t i = 0; i < n; i++) {
                float v = xp[i] * scale + shift;
                v += rp[i];
                yp[i] = relu && v <= 0 ? 0 : v;
            }
        } else if (relu) {
            for (size_t i = 0; i < n; i++) {
                float v = xp[i] * scale + shift;
                yp[i] = v <= 0 ? 0 : v;  /* ReLU's own rule: NaN stays NaN */
            }
        } else {
            for (size_t i = 0; i < n; i++) yp[i] = xp[i] * scale + shift;
        }
    }
}

static void LEVEL(batch_norm_backward_channel)(const float *g, const float *x, const float *y, float *dx,
                                               size_t planes, size_t n, size_t stride, float mean, float rstd,
                                               float w, int batch_statistics, float *dw, float *db) {
    if (y) {
        /* A ReLU followed: its masked gradient goes into dx, which then stands for g (dx is written last, in
           whole vectors below, so that reading and writing the same plane keeps the vector path). */
        for (size_t p = 0; p < planes; p++) {
            const float *gp = g + p * stride, *yp = y + p * stride;
            float *dxp = dx + p * stride;
            for (size_t i = 0; i < n; i++) dxp[i] = yp[i] > 0 ? gp[i] : 0;
        }
        g = dx;
    }
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
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
            float16v gv, xv;
            memcpy(&gv, gp + i, sizeof gv);
            memcpy(&xv, xp + i, sizeof xv);
            gv = a * gv + c * xv + d;
            memcpy(dxp + i, &gv, sizeof gv);
        }
        for (; i < n; i++) dxp[i] = a * gp[i] + c * xp[i] + d;
    }
}

/* Max pooling of one image plane [h, w]. The plane is first copied into `padded`, which the caller filled with
   -inf (the border stays so between planes), at (top, left), split into its sx column phases: padded (py, px) is
   padded[(py·sx + px mod sx)·wq + px / sx]. Every window is then whole, and each of its taps one contiguous pass
   over a row of outputs, 16 at a time with selects instead of branches (random data mispredicts them half the
   time). Output (oy, ox) reads the taps (oy·sy + i·dy, ox·sx + j·dx) in row-major order and keeps the first
   largest, or any NaN (PyTorch's rule; -inf padding is never taken). `at[oy·ow + ox]` holds on entry the image
   index of the window's first tap inside the image, on return that of the chosen tap. */
static void LEVEL(max_pool_plane)(const float *restrict image, size_t h, size_t w, long top, long left,
                                  float *restrict padded, size_t rows, size_t wq, size_t oh, size_t ow, size_t kh,
                                  size_t kw, size_t sy, size_t sx, size_t dy, size_t dx, float *restrict out,
                                  int32_t *restrict at) {
    typedef int32_t int16v __attribute__((ext_vector_type(16)));
    /* The image rows and columns inside the padded area (floor mode may leave the last ones out). */
    long y0 = top < 0 ? -top : 0, y1 = (long)rows - top < (long)h ? (long)rows - top : (long)h;
    long x0 = left < 0 ? -left : 0, x1 = (long)(wq * sx) - left < (long)w ? (long)(wq * sx) - left : (long)w;
    for (long y = y0; y < y1; y++) {
        const float *src = image + y * (long)w;
        for (size_t b = 0; b < sx; b++) {
            long x = x0 + (long)((b + sx - (size_t)((x0 + left) % (long)sx)) % sx);
            float *dst = padded + ((size_t)(y + top) * sx + b) * wq + (size_t)(x + left) / sx;
            if (sx == 2)  /* a constant stride, which the loop vectorises */
                for (long k = 0; x + 2 * k < x1; k++) dst[k] = src[x + 2 * k];
            else
                for (long k = 0; x + (long)sx * k < x1; k++) dst[k] = src[x + (long)sx * k];
        }
    }
    int16v lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    for (size_t oy = 0; oy < oh; oy++) {
        float *best = out + oy * ow;
        int32_t *chosen = at + oy * ow;
        for (size_t ox = 0; ox < ow; ox++) best[ox] = -__builtin_inff();
        for (size_t i = 0; i < kh; i++) {
            size_t py = oy * sy + i * dy;
            for (size_t j = 0; j < kw; j++) {
                size_t px = j * dx;
                const float *row = padded + (py * sx + px % sx) * wq + px / sx;
                int32_t index = (int32_t)(((long)py - top) * (long)w + (long)px - left);
                size_t ox = 0;
                for (; ox + 16 <= ow; ox += 16) {
                    float16v v, b;
                    int16v a;
                    memcpy(&v, row + ox, sizeof v);
                    memcpy(&b, best + ox, sizeof b);
                    memcpy(&a, chosen + ox, sizeof a);
                    int16v taken = (v > b) | (v != v);
                    b = (float16v)(((int16v)v & taken) | ((int16v)b & ~taken));
                    a = ((index + (int32_t)(ox * sx) + lane * (int32_t)sx) & taken) | (a & ~taken);
                    memcpy(best + ox, &b, sizeof b);
                    memcpy(chosen + ox, &a, sizeof a);
                }
                for (; ox < ow; ox++) {
                    float v = row[ox];
                    if (v > best[ox] || v != v) {
                        best[ox] = v;
                        chosen[ox] = index + (int32_t)(ox * sx);
                    }
                }
            }
        }
    }
}

/* torch.optim.AdamW's update of n parameters: p ← p·decay; m ← β1·m + (1 − β1)·g;
   v ← β2·v + (1 − β2)·g²; p ← p − step·m / (√v·inv_bias2 + ε). Without contraction into FMAs
   every level rounds alike. Vectorised square roots and divisions: 25.6 M parameters 27.9 → 10.0 ms
   (Zen 5, 2 cores). */
static void LEVEL(adam_update)(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                               size_t n, float decay, float b1, float b2, float step, float inv_bias2, float eps) {
#pragma clang fp contract(off)
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float16v gi, mi, vi, pi;
        memcpy(&gi, g + i, sizeof gi);
        memcpy(&mi, m + i, sizeof mi);
        memcpy(&vi, v + i, sizeof vi);
        memcpy(&pi, p + i, sizeof pi);
        mi = b1 * mi + (1 - b1) * gi;
        vi = b2 * vi + (1 - b2) * gi * gi;
        pi = pi * decay - step * mi / (__builtin_elementwise_sqrt(vi) * inv_bias2 + eps);
        memcpy(m + i, &mi, sizeof mi);
        memcpy(v + i, &vi, sizeof vi);
        memcpy(p + i, &pi, sizeof pi);
    }
    for (; i < n; i++) {
        float mi = b1 * m[i] + (1 - b1) * g[i], vi = b2 * v[i] + (1 - b2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (__builtin_sqrtf(vi) * inv_bias2 + eps);
    }
}

/* The FMA units' peak: `iterations` rounds of 12 independent multiply-add chains on vectors of PEAK_LANES floats
   (the level's register width, so 12 chains cover the latency of two FMA pipes without spilling). Returns the
   floating-point operations done; the chains' sum goes to *sink so that the compiler keeps them. */
static size_t LEVEL(fma_peak)(size_t iterations, float *sink) {
    typedef float vector __attribute__((ext_vector_type(PEAK_LANES)));
    vector m = 0.999999f, c = 1e-6f;
    vector a0 = 1.f, a1 = 2.f, a2 = 3.f, a3 = 4.f, a4 = 5.f, a5 = 6.f, a6 = 7.f, a7 = 8.f, a8 = 9.f, a9 = 10.f,
           a10 = 11.f, a11 = 12.f;
    for (size_t i = 0; i < iterations; i++) {
        a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c; a4 = a4 * m + c; a5 = a5 * m + c;
        a6 = a6 * m + c; a7 = a7 * m + c; a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;
    }
    vector s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    float total = 0;
    for (int k = 0; k < PEAK_LANES; k++) total += s[k];
    *sink = total;
    return iterations * 12 * 2 * PEAK_LANES;
}
