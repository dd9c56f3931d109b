// Compute-bound float32 kernels, built once per CPU level (AVX-512, AVX2 + FMA, baseline x86-64)
// and reached through one table per level, so that the caller picks the level at run time and
// tests can run every level this CPU supports.
#ifndef TESSERA_FAST_KERNELS_H
#define TESSERA_FAST_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/// The instruction-set levels the kernels are built for.
enum { TESSERA_LEVEL_BASELINE = 0, TESSERA_LEVEL_AVX2 = 1, TESSERA_LEVEL_AVX512 = 2 };

#pragma clang assume_nonnull begin
/// One level's kernels.
typedef struct TesseraKernels {
    /// "baseline", "avx2" or "avx512".
    const char *name;
    void (*exp)(const float *x, float *y, size_t n);
    void (*gelu)(const float *x, float *y, size_t n);
    void (*gelu_derivative)(const float *x, float *y, size_t n);
    /// y = g · GELU'(x): the backward of GELU in one pass.
    void (*gelu_backward)(const float *x, const float *g, float *y, size_t n);
    /// Softmax (log = 0) or log-softmax (log = 1) over each of `rows` contiguous rows of length n.
    void (*softmax_rows)(const float *x, float *y, size_t rows, size_t n, int log);
    /// Sum of n floats: blocks of 4096 in 64 float lanes, the block sums added in double (rounding
    /// error near pairwise summation at the speed of one pass).
    double (*sum)(const float *x, size_t n);
    /// Layer norm of `rows` rows of n floats: per-row mean and 1/sqrt(biased variance + eps) into
    /// `mean` and `rstd`, and y = (x − mean)·rstd·w + b (`w`, `b` may be NULL).
    void (*layer_norm_rows)(const float *x, const float *_Nullable w, const float *_Nullable b, float *y,
                            float *mean, float *rstd, size_t rows, size_t n, float eps);
    /// Its backward for `rows` rows: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·w, and
    /// dw += Σ g·x̂, db += Σ g (this caller's partials); `scratch` holds n floats.
    void (*layer_norm_backward_rows)(const float *g, const float *x, const float *mean, const float *rstd,
                                     const float *_Nullable w, float *dx, float *dw, float *db, float *scratch,
                                     size_t rows, size_t n);
    /// Batch norm of one channel whose values are `planes` runs of n floats, `stride` apart (the
    /// channel of an [N, C, …] tensor). With `compute_statistics` the channel's mean and biased
    /// variance go to *mean and *var (two passes, double sums); otherwise they are read from there.
    /// y = (x − mean)/sqrt(var + eps)·w + b, at the same offsets as x; plus `residual` (at the same offsets)
    /// when not NULL; with `relu`, ReLU of that.
    void (*batch_norm_channel)(const float *x, const float *_Nullable residual, float *y, size_t planes, size_t n,
                               size_t stride, float w, float b, float eps, int compute_statistics, int relu,
                               float *mean, float *var);
    /// Its backward: *db = Σ g, *dw = Σ g·x̂ with x̂ = (x − mean)·rstd, and dx = w·rstd·g, minus
    /// w·rstd·(Σ g + x̂·Σ g·x̂)/count when the statistics came from the batch. With `y` (the forward's
    /// output after a ReLU; NULL for none) g is first taken only where y > 0, as ReLU's backward does.
    void (*batch_norm_backward_channel)(const float *g, const float *x, const float *_Nullable y, float *dx,
                                        size_t planes, size_t n, size_t stride, float mean, float rstd, float w,
                                        int batch_statistics, float *dw, float *db);
    /// Max pooling of one image plane [h, w]: output (oy, ox) takes the taps (oy·sy + i·dy − top,
    /// ox·sx + j·dx − left), i < kh, j < kw, in row-major order, keeping the first largest or any NaN and
    /// skipping taps outside the image. `padded` holds rows · sx · wq floats, filled with -inf by the caller
    /// before its first plane (the plane goes inside, split into sx column phases of wq; rows ≥
    /// (oh − 1)·sy + (kh − 1)·dy + 1, and wq·sx the same along columns). `at` holds, per output, the image
    /// index of its window's first tap inside the image on entry and that of the chosen tap on return.
    void (*max_pool_plane)(const float *image, size_t h, size_t w, long top, long left, float *padded, size_t rows,
                           size_t wq, size_t oh, size_t ow, size_t kh, size_t kw, size_t sy, size_t sx, size_t dy,
                           size_t dx, float *out, int32_t *at);
    /// torch.optim.AdamW's update of n parameters p with gradients g and moments m, v (all updated in place):
    /// p·decay − step·m / (√v·inv_bias2 + eps) after m ← b1·m + (1 − b1)·g, v ← b2·v + (1 − b2)·g².
    void (*adam_update)(float *p, const float *g, float *m, float *v, size_t n, float decay, float b1, float b2,
                        float step, float inv_bias2, float eps);
    /// output[oi, p] = Σ over taps k and channels ci of taps[k, oi, ci] · input[ci·plane + offsets[k] + p]
    /// for p < length: a stride-1 convolution over a zero-padded image (see Convolution.swift), with
    /// the taps packed by tessera_pack_conv_taps_f32 for this level. NULL where the level has no fused loop.
    void (*_Nullable shifted_conv)(const float *packed, const float *input, float *output, size_t t, size_t o,
                                   size_t c, size_t length, size_t plane, const size_t *offsets);
    /// gw[k, oi, ci] += Σ over p < length of gy[oi, p] · transposed[offsets[k] + p, ci]: the weight
    /// gradient of shifted_conv (gy at padded width with zero tail columns). `scratch` holds 24 · length floats.
    /// NULL with shifted_conv.
    void (*_Nullable shifted_conv_weight_grad)(const float *gy, const float *transposed, float *gw, size_t t,
                                               size_t o, size_t c, size_t length, const size_t *offsets,
                                               float *scratch);
    /// The fused forward loop's output channels per packed block for a layer of `o` output channels (the
    /// packing's block); NULL without one.
    size_t (*_Nullable conv_block_channels)(size_t o);
    /// Pixels of the fused forward loop's widest register tile; 0 without one.
    size_t conv_tile_pixels;
    /// Whether the loop runs over the taps inside each input channel (the packing's order).
    int conv_taps_inner;
    /// `iterations` rounds of independent fused multiply-adds in this level's widest registers: the floating-point
    /// operations done (returned) over the time taken is the core's peak, the bound a GEMM approaches.
    /// `sink` receives a result so that the work is kept.
    size_t (*fma_peak)(size_t iterations, float *sink);
} TesseraKernels;

/// The kernels of `level`, or NULL where this CPU cannot run them.
const TesseraKernels *_Nullable tessera_kernels(int level);
/// The highest level this CPU runs.
int tessera_cpu_level(void);
/// The level named by the environment variable TESSERA_CPU_LEVEL ("avx512", "avx2", "baseline"):
/// -1 when it is unset or empty, -2 when it names no level.
int tessera_requested_level(void);
/// "baseline", "avx2", "avx512" (or "unknown").
const char *tessera_level_name(int level);

/// Taps [t, o, c] packed for a level's fused convolution loop: [ceil(o/block), t, c, block], or
/// [ceil(o/block), c, t, block] with `taps_inner`, where block and order are the level's
/// conv_tile_channels and conv_taps_inner; zero rows past o.
void tessera_pack_conv_taps_f32(const float *taps, size_t t, size_t o, size_t c, size_t block, int taps_inner,
                                float *packed);
/// The image [c, h, w] zero-padded to [h + 2ph, w + 2pw] and transposed to rows of c channels:
/// `rows` × c floats (rows ≥ the padded plane; the rest zero).
void tessera_pad_transpose_f32(const float *image, size_t c, size_t h, size_t w, size_t ph, size_t pw, size_t rows,
                               float *transposed);

/// The sizes of a 2-D convolution of one image [c, h, w] (groups folded into c) with a kh × kw kernel.
typedef struct {
    size_t c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
} TesseraConvGeometry;
/// Output rows row0 ..< row0 + rows of the image's column buffer, as [c·kh·kw, rows·ow] with rows `ld` elements
/// apart (ld ≥ rows·ow: several images' buffers side by side): row (ci, i, j) holds input pixel
/// (oy·sh − ph + i·dh, ox·sw − pw + j·dw) of channel ci at column (oy − row0)·ow + ox, zero in the padding.
void tessera_im2col_f32(const TesseraConvGeometry *g, size_t row0, size_t rows, const float *image, float *columns,
                        size_t ld);
void tessera_im2col_f64(const TesseraConvGeometry *g, size_t row0, size_t rows, const double *image,
                        double *columns, size_t ld);
/// The adjoint of im2col for the same rows: adds each column buffer entry onto the pixel it was read from.
void tessera_col2im_f32(const TesseraConvGeometry *g, size_t row0, size_t rows, const float *columns, size_t ld,
                        float *image);
void tessera_col2im_f64(const TesseraConvGeometry *g, size_t row0, size_t rows, const double *columns, size_t ld,
                        double *image);
/// The image zero-padded by (ph, pw) and split into its sh × sw stride phases per channel, followed by kw zeros:
/// the source of the shifted products (Tensor's ConvLayout.sourcePlane layout).
void tessera_pad_phases_f32(const TesseraConvGeometry *g, const float *image, float *source);
void tessera_pad_phases_f64(const TesseraConvGeometry *g, const double *image, double *source);
#pragma clang assume_nonnull end

/// The number of CPUs in this process's affinity mask, or -1 where it cannot be read.
int tessera_affinity_cpu_count(void);

/// Moves the pages of `size` bytes at `from` (page-aligned, within one mapping) to `to`, replacing what was
/// mapped there, without copying or faulting them: mremap with MREMAP_FIXED. Returns 0, or -1 with errno set.
int tessera_move_pages(void *_Nonnull from, size_t size, void *_Nonnull to);

/// One task of a parallel region: `index` runs from 0 to the region's count.
typedef void (*tessera_task)(void *_Nullable context, long index);
/// Runs task(context, i) for every i in 0..<count, spread over `threads` threads (the caller and up to threads − 1
/// pool workers), and returns when all have finished. Runs serially on the caller when threads < 2, count > 65535,
/// inside another region, or while another thread's region holds the pool.
void tessera_parallel_for(long count, int threads, tessera_task _Nonnull task, void *_Nullable context);

#endif
