#include "ImageCodecs.h"

#include <png.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(tessera_image *out, const char *message) {
    snprintf(out->error, sizeof out->error, "%s", message);
    free(out->pixels);
    out->pixels = NULL;
    return 1;
}

int tessera_decode_png(const uint8_t *data, size_t size, size_t max_pixels, tessera_image *out) {
    memset(out, 0, sizeof *out);
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) return fail(out, image.message);
    if ((size_t)image.width * image.height > max_pixels || image.width == 0 || image.height == 0) {
        char message[160];
        snprintf(message, sizeof message, "PNG claims %u x %u pixels, over the limit of %zu",
                 image.width, image.height, max_pixels);
        png_image_free(&image);
        return fail(out, message);
    }
    // Read as RGBA (grey, palette and 16-bit converted), then drop alpha as PIL's convert("RGB") does.
    image.format = PNG_FORMAT_RGBA;
    // 16-bit samples are sRGB-encoded like everything else (PIL/torchvision scale them; libpng
    // would otherwise assume linear light and re-encode).
    image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    size_t count = (size_t)image.width * image.height;
    out->pixels = malloc(count * 4);
    if (!out->pixels) { png_image_free(&image); return fail(out, "out of memory"); }
    if (!png_image_finish_read(&image, NULL, out->pixels, 0, NULL)) return fail(out, image.message);
    for (size_t i = 0; i < count; i++) memmove(out->pixels + 3 * i, out->pixels + 4 * i, 3);
    out->width = (int)image.width;
    out->height = (int)image.height;
    return 0;
}

int tessera_encode_png(const uint8_t *pixels, int width, int height, int channels,
                       uint8_t **out, size_t *out_size, char error[256]) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    png_alloc_size_t bytes = 0;
    if (!png_image_write_get_memory_size(image, bytes, 0, pixels, 0, NULL)) {
        snprintf(error, 256, "%s", image.message);
        return 1;
    }
    *out = malloc(bytes);
    if (!*out) { snprintf(error, 256, "out of memory"); return 1; }
    if (!png_image_write_to_memory(&image, *out, &bytes, 0, pixels, 0, NULL)) {
        snprintf(error, 256, "%s", image.message);
        free(*out);
        *out = NULL;
        return 1;
    }
    *out_size = bytes;
    return 0;
}

// libjpeg reports errors through error_exit, which must not return: jump back to the decoder.
// Warnings (a truncated or corrupt stream, which libjpeg would paper over with grey) are errors too.
struct jpeg_failure {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void jpeg_error_exit(j_common_ptr info) {
    struct jpeg_failure *f = (struct jpeg_failure *)info->err;
    (*info->err->format_message)(info, f->message);
    longjmp(f->jump, 1);
}

static void jpeg_emit_message(j_common_ptr info, int level) {
    if (level < 0) jpeg_error_exit(info);
}

// The error manager of a decoder or encoder: errors and warnings jump to the caller's setjmp.
static struct jpeg_error_mgr *jpeg_failure_manager(struct jpeg_failure *failure) {
    memset(failure, 0, sizeof *failure);
    struct jpeg_error_mgr *manager = jpeg_std_error(&failure->manager);
    manager->error_exit = jpeg_error_exit;
    manager->emit_message = jpeg_emit_message;
    return manager;
}

int tessera_decode_jpeg(const uint8_t *data, size_t size, size_t max_pixels, tessera_image *out) {
    memset(out, 0, sizeof *out);
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    info.err = jpeg_failure_manager(&failure);
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&info);
        char message[300];
        snprintf(message, sizeof message, "JPEG: %s", failure.message);
        return fail(out, message);
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    if ((size_t)info.image_width * info.image_height > max_pixels) {
        char message[160];
        snprintf(message, sizeof message, "JPEG claims %u x %u pixels, over the limit of %zu",
                 info.image_width, info.image_height, max_pixels);
        jpeg_destroy_decompress(&info);
        return fail(out, message);
    }
    info.out_color_space = JCS_RGB;  // grey and YCbCr are converted; CMYK is refused by libjpeg
    jpeg_start_decompress(&info);
    if (info.output_components != 3) longjmp(failure.jump, 1);
    size_t row = (size_t)info.output_width * 3;
    out->pixels = malloc(row * info.output_height);
    if (!out->pixels) { jpeg_destroy_decompress(&info); return fail(out, "out of memory"); }
    while (info.output_scanline < info.output_height) {
        JSAMPROW line = out->pixels + row * info.output_scanline;
        jpeg_read_scanlines(&info, &line, 1);
    }
    jpeg_finish_decompress(&info);
    out->width = (int)info.output_width;
    out->height = (int)info.output_height;
    jpeg_destroy_decompress(&info);
    return 0;
}

int tessera_encode_jpeg(const uint8_t *pixels, int width, int height, int channels, int quality,
                        uint8_t **out, size_t *out_size, char error[256]) {
    *out = NULL;
    *out_size = 0;
    if ((channels != 1 && channels != 3) || width <= 0 || height <= 0 || quality < 1 || quality > 100) {
        snprintf(error, 256, "JPEG needs 1 or 3 channels, a positive size and quality 1...100");
        return 1;
    }
    struct jpeg_compress_struct info;
    struct jpeg_failure failure;
    // libjpeg grows the buffer through &buffer; read it back through a volatile lvalue after a longjmp.
    unsigned char *buffer = NULL;
    unsigned long size = 0;
    info.err = jpeg_failure_manager(&failure);
    if (setjmp(failure.jump)) {
        jpeg_destroy_compress(&info);
        free(*(unsigned char *volatile *)&buffer);
        snprintf(error, 256, "%s", failure.message);
        return 1;
    }
    jpeg_create_compress(&info);
    jpeg_mem_dest(&info, &buffer, &size);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = channels;
    info.in_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)info.next_scanline * (size_t)width * (size_t)channels);
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    *out = buffer;
    *out_size = size;
    return 0;
}

void tessera_image_free(void *pointer) { free(pointer); }

// Palette-indexed PNG (DAVIS's masks) through libpng's full API, which keeps the file's indices
// and palette (the simplified API would remap them). libpng reports errors by longjmp to here.
struct png_memory { const uint8_t *data; size_t size, offset; };

static void png_read_memory(png_structp png, png_bytep out, png_size_t count) {
    struct png_memory *m = png_get_io_ptr(png);
    if (count > m->size - m->offset) png_error(png, "truncated PNG");
    memcpy(out, m->data + m->offset, count);
    m->offset += count;
}

static void png_error_message(png_structp png, png_const_charp message) {
    snprintf((char *)png_get_error_ptr(png), 256, "%s", message);
    png_longjmp(png, 1);
}

static void png_ignore_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

int tessera_decode_indexed_png(const uint8_t *data, size_t size, size_t max_pixels, tessera_indexed_image *out) {
    memset(out, 0, sizeof *out);
    if (size < 8 || png_sig_cmp(data, 0, 8)) { snprintf(out->error, 256, "not a PNG file"); return 1; }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, out->error, png_error_message, png_ignore_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); snprintf(out->error, 256, "out of memory"); return 1; }
    struct png_memory memory = { data, size, 0 };
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(out->indices);
        out->indices = NULL;
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    png_set_read_fn(png, &memory, png_read_memory);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if ((size_t)width * height > max_pixels || width == 0 || height == 0) {
        png_error(png, "PNG dimensions are zero or over the pixel limit");
    }
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp palette;
        int entries = 0;
        if (png_get_PLTE(png, info, &palette, &entries)) {
            for (int i = 0; i < entries && i < 256; i++) {
                out->palette[3 * i] = palette[i].red;
                out->palette[3 * i + 1] = palette[i].green;
                out->palette[3 * i + 2] = palette[i].blue;
            }
            out->palette_entries = entries;
        }
    } else if (type != PNG_COLOR_TYPE_GRAY || depth > 8) {
        png_error(png, "not a palette or 8-bit grey PNG (masks hold one index per pixel)");
    }
    if (depth < 8) png_set_packing(png);
    if (png_get_interlace_type(png, info) != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != width) png_error(png, "unexpected row size");
    out->indices = malloc((size_t)width * height);
    rows = malloc(sizeof(png_bytep) * height);
    if (!out->indices || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = out->indices + (size_t)y * width;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->width = (int)width;
    out->height = (int)height;
    return 0;
}

struct png_buffer { uint8_t *data; size_t size, capacity; };

static void png_write_memory(png_structp png, png_bytep in, png_size_t count) {
    struct png_buffer *b = png_get_io_ptr(png);
    if (b->size + count > b->capacity) {
        size_t capacity = (b->capacity + count) * 2;
        uint8_t *grown = realloc(b->data, capacity);
        if (!grown) png_error(png, "out of memory");
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->size, in, count);
    b->size += count;
}

static void png_flush_nothing(png_structp png) { (void)png; }

int tessera_encode_indexed_png(const uint8_t *indices, int width, int height, const uint8_t *palette,
                               int palette_entries, uint8_t **out, size_t *out_size, char error[256]) {
    *out = NULL;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, error, png_error_message, png_ignore_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) { png_destroy_write_struct(&png, NULL); snprintf(error, 256, "out of memory"); return 1; }
    struct png_buffer buffer = { NULL, 0, 0 };
    if (setjmp(png_jmpbuf(png))) {
        free(buffer.data);
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_set_write_fn(png, &buffer, png_write_memory, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color colors[256];
    for (int i = 0; i < palette_entries; i++) {
        colors[i].red = palette[3 * i];
        colors[i].green = palette[3 * i + 1];
        colors[i].blue = palette[3 * i + 2];
    }
    png_set_PLTE(png, info, colors, palette_entries);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(indices + (size_t)y * width));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = buffer.data;
    *out_size = buffer.size;
    return 0;
}
