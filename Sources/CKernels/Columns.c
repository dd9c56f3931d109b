// im2col, its adjoint col2im and the padding of an image into its stride phases, for float32 and float64, one
// source for both through macros.
// In C rather than Swift because a stride-2 row (every 3×3/2 and 1×1/2 convolution's ∂W, and the
// forwards that take im2col) is a deinterleave: two vector loads and one shuffle per 4 elements, where
// Swift's loop moved one float at a time with two overflow checks (compare's first 3×3/2 layer, fwd+bwd
// at batch 64: 2.2–2.3 → 2.0–2.1 ms). Plain shuffles, not gathers, so every level runs the same code.
#include "FastKernels.h"

#include <string.h>

typedef float f32_t;
typedef double f64_t;
typedef float f32x4 __attribute__((ext_vector_type(4)));
typedef double f64x4 __attribute__((ext_vector_type(4)));

/* Per type: zeroing, dst[k] = src[2k] (reading no further than src[avail - 1]) and dst[2k] += src[k] (touching no
 * further than dst[avail - 1]; odd elements gain −0, which leaves them as they are), four elements a step. */
#define STRIDE_TWO_ROWS(T)                                                                                   \
static inline void zero_##T(T##_t *x, size_t n) { for (size_t k = 0; k < n; k++) x[k] = 0; }                 \
                                                                                                              \
static inline void copy_even_##T(const T##_t *src, T##_t *dst, size_t n, size_t avail) {                     \
    size_t k = 0;                                                                                             \
    for (; k + 4 <= n && 2 * k + 8 <= avail; k += 4) {                                                        \
        T##x4 a, b;                                                                                           \
        memcpy(&a, src + 2 * k, sizeof a);                                                                    \
        memcpy(&b, src + 2 * k + 4, sizeof b);                                                                \
        T##x4 even = __builtin_shufflevector(a, b, 0, 2, 4, 6);                                               \
        memcpy(dst + k, &even, sizeof even);                                                                  \
    }                                                                                                         \
    for (; k < n; k++) dst[k] = src[2 * k];                                                                   \
}                                                                                                             \
                                                                                                              \
static inline void add_even_##T(const T##_t *src, T##_t *dst, size_t n, size_t avail) {                      \
    size_t k = 0;                                                                                             \
    const T##x4 zero = -0.0;  /* x + (−0) is x for every x, −0 included */                                   \
    for (; k + 4 <= n && 2 * k + 8 <= avail; k += 4) {                                                        \
        T##x4 s, a, b;                                                                                        \
        memcpy(&s, src + k, sizeof s);                                                                        \
        memcpy(&a, dst + 2 * k, sizeof a);                                                                    \
        memcpy(&b, dst + 2 * k + 4, sizeof b);                                                                \
        a += __builtin_shufflevector(s, zero, 0, 4, 1, 4);                                                    \
        b += __builtin_shufflevector(s, zero, 2, 4, 3, 4);                                                    \
        memcpy(dst + 2 * k, &a, sizeof a);                                                                    \
        memcpy(dst + 2 * k + 4, &b, sizeof b);                                                                \
    }                                                                                                         \
    for (; k < n; k++) dst[2 * k] += src[k];                                                                  \
}

STRIDE_TWO_ROWS(f32)
STRIDE_TWO_ROWS(f64)

/* Output columns [lo, hi) of kernel column j whose input column ox·sw − pw + j·dw lies in the image. */
static inline void valid_columns(const TesseraConvGeometry *g, size_t j, size_t *lo, size_t *hi) {
    ptrdiff_t offset = (ptrdiff_t)(j * g->dw) - (ptrdiff_t)g->pw, sw = (ptrdiff_t)g->sw;
    ptrdiff_t first = offset >= 0 ? 0 : (-offset + sw - 1) / sw;
    ptrdiff_t last = (ptrdiff_t)g->w - offset <= 0 ? 0 : ((ptrdiff_t)g->w - offset + sw - 1) / sw;
    if (last > (ptrdiff_t)g->ow) last = (ptrdiff_t)g->ow;
    *lo = (size_t)first;
    *hi = last > first ? (size_t)last : (size_t)first;
}

/* The input row of output row oy under kernel row i, or -1 where it falls in the padding. */
static inline ptrdiff_t input_row(const TesseraConvGeometry *g, size_t oy, size_t i) {
    ptrdiff_t iy = (ptrdiff_t)(oy * g->sh + i * g->dh) - (ptrdiff_t)g->ph;
    return iy >= 0 && iy < (ptrdiff_t)g->h ? iy : -1;
}

/* Runs the statement given as the variadic argument for each row of output rows row0 ..< row0 + rows of the column
 * buffer, with `oy` the output row, `iy` its input row (-1 in the padding), [lo, hi) the output columns that read
 * the image, and `start` the image element that column lo reads; `columns` advances one buffer row (`ld`) at a time. */
#define FOR_EACH_BUFFER_ROW(...)                                                                             \
    const size_t plane = g->h * g->w, count = g->c * plane;                                                 \
    for (size_t ci = 0; ci < g->c; ci++)                                                                      \
        for (size_t i = 0; i < g->kh; i++)                                                                    \
            for (size_t j = 0; j < g->kw; j++, columns += ld) {                                               \
                size_t lo, hi;                                                                                \
                valid_columns(g, j, &lo, &hi);                                                                \
                for (size_t oy = row0; oy < row0 + rows; oy++) {                                              \
                    ptrdiff_t iy = input_row(g, oy, i);                                                       \
                    size_t start = iy < 0 ? 0 : ci * plane + (size_t)iy * g->w + lo * g->sw + j * g->dw - g->pw; \
                    __VA_ARGS__                                                                               \
                }                                                                                             \
            }

/* Small stride-1 images (compare's last stage: 4 × 4) go through a zero-padded copy of each channel, so that every
 * buffer row is a branch-free copy of `ow` elements per output row: the general loop's bookkeeping per output row
 * (padding bounds, a memcpy call) cost more than copying 4 elements. */
#define SMALL_PLANE 1024
static inline int is_small(const TesseraConvGeometry *g) {
    return g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->ow <= 16
        && (g->h + 2 * g->ph) * (g->w + 2 * g->pw) <= SMALL_PLANE;
}

/* For each pixel of channel ci inside the padded plane: `inside` its index in the plane, `pixel` in the image. */
#define FOR_EACH_PIXEL(...)                                                                                  \
    for (size_t y = 0; y < g->h; y++)                                                                         \
        for (size_t x = 0; x < g->w; x++) {                                                                   \
            const size_t inside = (y + g->ph) * wp + x + g->pw, pixel = (ci * g->h + y) * g->w + x;           \
            __VA_ARGS__                                                                                       \
        }

/* For each entry of channel ci's buffer rows (i, j): `entry` its index in the row, `cell` the plane's element it
 * holds; `columns` advances one buffer row (`ld`) at a time. */
#define FOR_EACH_ENTRY(...)                                                                                  \
    for (size_t i = 0; i < g->kh; i++)                                                                        \
        for (size_t j = 0; j < g->kw; j++, columns += ld)                                                     \
            for (size_t oy = row0; oy < row0 + rows; oy++)                                                    \
                for (size_t k = 0; k < g->ow; k++) {                                                          \
                    const size_t entry = (oy - row0) * g->ow + k, cell = (oy + i) * wp + j + k;               \
                    __VA_ARGS__                                                                               \
                }

/* im2col's rows when `ow` is the constant `width`: one fixed-size copy (a vector move) per output row. */
#define FOR_ROWS_OF(width, columns, padded)                                                                  \
    for (size_t i = 0; i < g->kh; i++)                                                                        \
        for (size_t j = 0; j < g->kw; j++, columns += ld)                                                     \
            for (size_t oy = row0; oy < row0 + rows; oy++)                                                    \
                memcpy(columns + (oy - row0) * width, padded + (oy + i) * wp + j, width * sizeof *columns);

#define SMALL_COLUMNS(T)                                                                                     \
static void small_im2col_##T(const TesseraConvGeometry *g, size_t row0, size_t rows, const T##_t *image,         \
                             T##_t *columns, size_t ld) {                                                    \
    T##_t padded[SMALL_PLANE];                                                                                \
    const size_t wp = g->w + 2 * g->pw;                                                                       \
    zero_##T(padded, (g->h + 2 * g->ph) * wp);  /* the border stays zero; each channel overwrites the inside */ \
    for (size_t ci = 0; ci < g->c; ci++) {                                                                    \
        FOR_EACH_PIXEL(padded[inside] = image[pixel];)                                                        \
        if (g->ow == 4) FOR_ROWS_OF(4, columns, padded)                                                       \
        else if (g->ow == 8) FOR_ROWS_OF(8, columns, padded)                                                  \
        else FOR_EACH_ENTRY(columns[entry] = padded[cell];)                                                   \
    }                                                                                                         \
}                                                                                                             \
                                                                                                              \
/* The image's sums so far go into the plane first: each pixel adds its entries in the general loop's order. */ \
static void small_col2im_##T(const TesseraConvGeometry *g, size_t row0, size_t rows, const T##_t *columns,       \
                             size_t ld, T##_t *image) {                                                      \
    T##_t padded[SMALL_PLANE];                                                                                \
    const size_t wp = g->w + 2 * g->pw;                                                                       \
    zero_##T(padded, (g->h + 2 * g->ph) * wp);  /* the border collects the padding's entries, then is dropped */ \
    for (size_t ci = 0; ci < g->c; ci++) {                                                                    \
        FOR_EACH_PIXEL(padded[inside] = image[pixel];)                                                        \
        FOR_EACH_ENTRY(padded[cell] += columns[entry];)                                                       \
        FOR_EACH_PIXEL(image[pixel] = padded[inside];)                                                        \
    }                                                                                                         \
}

SMALL_COLUMNS(f32)
SMALL_COLUMNS(f64)

#define COLUMN_KERNELS(T)                                                                                    \
void tessera_im2col_##T(const TesseraConvGeometry *g, size_t row0, size_t rows, const T##_t *image,              \
                        T##_t *columns, size_t ld) {                                                         \
    if (is_small(g)) { small_im2col_##T(g, row0, rows, image, columns, ld); return; }                         \
    FOR_EACH_BUFFER_ROW(                                                                                      \
        T##_t *row = columns + (oy - row0) * g->ow;                                                           \
        if (iy < 0) { zero_##T(row, g->ow); continue; }                                                       \
        zero_##T(row, lo);                                                                                    \
        zero_##T(row + hi, g->ow - hi);                                                                       \
        const T##_t *in = image + start;                                                                      \
        if (g->sw == 1) memcpy(row + lo, in, (hi - lo) * sizeof(T##_t));                                      \
        else if (g->sw == 2) copy_even_##T(in, row + lo, hi - lo, count - start);                             \
        else for (size_t k = 0; k < hi - lo; k++) row[lo + k] = in[k * g->sw];                                \
    )                                                                                                         \
}                                                                                                             \
                                                                                                              \
void tessera_col2im_##T(const TesseraConvGeometry *g, size_t row0, size_t rows, const T##_t *columns,            \
                        size_t ld, T##_t *image) {                                                           \
    if (is_small(g)) { small_col2im_##T(g, row0, rows, columns, ld, image); return; }                         \
    FOR_EACH_BUFFER_ROW(                                                                                      \
        if (iy < 0) continue;                                                                                 \
        const T##_t *row = columns + (oy - row0) * g->ow + lo;                                                \
        T##_t *out = image + start;                                                                           \
        if (g->sw == 2) add_even_##T(row, out, hi - lo, count - start);                                       \
        else for (size_t k = 0; k < hi - lo; k++) out[k * g->sw] += row[k];                                   \
    )                                                                                                         \
}

/* The zero-padded image split into its stride phases, the source of the shifted products (Convolution.swift's
 * `sourcePlane` layout): phase (a, b) of channel ci holds padded pixel (sh·u + a, sw·v + b) at [u, v] of a
 * [ceil(hp / sh), ceil(wp / sw)] plane; kw more zeros after the last channel for the taps' wrapped reads. */
#define PHASE_SPLIT(T)                                                                                       \
void tessera_pad_phases_##T(const TesseraConvGeometry *g, const T##_t *image, T##_t *source) {               \
    const size_t width = (g->w + 2 * g->pw + g->sw - 1) / g->sw;                                            \
    const size_t phase = (g->h + 2 * g->ph + g->sh - 1) / g->sh * width, plane = g->sh * g->sw * phase;     \
    zero_##T(source, g->c * plane + g->kw);                                                                   \
    for (size_t ci = 0; ci < g->c; ci++)                                                                      \
        for (size_t y = 0; y < g->h; y++) {                                                                   \
            const T##_t *row = image + (ci * g->h + y) * g->w;                                                \
            size_t py = y + g->ph;                                                                            \
            T##_t *phase_row = source + ci * plane + (py % g->sh) * g->sw * phase + (py / g->sh) * width;     \
            if (g->sw == 1) { memcpy(phase_row + g->pw, row, g->w * sizeof(T##_t)); continue; }               \
            for (size_t b = 0; b < g->sw; b++) {  /* columns x ≡ b − pw (mod sw) */                          \
                size_t x = (b + g->sw - g->pw % g->sw) % g->sw, v = (x + g->pw) / g->sw;                     \
                if (x >= g->w) continue;                                                                      \
                size_t n = (g->w - x + g->sw - 1) / g->sw;                                                    \
                T##_t *out = phase_row + b * phase + v;                                                       \
                if (g->sw == 2) copy_even_##T(row + x, out, n, g->w - x);                                     \
                else for (size_t k = 0; k < n; k++) out[k] = row[x + k * g->sw];                              \
            }                                                                                                 \
        }                                                                                                     \
}

COLUMN_KERNELS(f32)
COLUMN_KERNELS(f64)
PHASE_SPLIT(f32)
PHASE_SPLIT(f64)
