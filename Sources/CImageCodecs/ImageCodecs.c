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
