// PNG and JPEG through libpng's simplified API and libjpeg(-turbo), with every error returned as a
// message instead of libjpeg's exit()/longjmp reaching Swift. Images are 8-bit RGB, row-major.
#ifndef TESSERA_IMAGE_CODECS_H
#define TESSERA_IMAGE_CODECS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *pixels;   // width * height * 3 bytes (RGB), owned by the caller: free with tessera_image_free
    int width;
    int height;
    char error[256];   // set when a call returns non-zero
} tessera_image;

// Decoders refuse images with more than max_pixels pixels before allocating them.
int tessera_decode_png(const uint8_t *data, size_t size, size_t max_pixels, tessera_image *out);
int tessera_decode_jpeg(const uint8_t *data, size_t size, size_t max_pixels, tessera_image *out);
// Encodes 8-bit grey (channels 1), RGB (3) or RGBA (4) rows; *out is freed with tessera_image_free.
int tessera_encode_png(const uint8_t *pixels, int width, int height, int channels,
                       uint8_t **out, size_t *out_size, char error[256]);
// Encodes 8-bit grey (channels 1) or RGB (3) rows as baseline JPEG at quality 1…100 (libjpeg's scale,
// 4:2:0 chroma subsampling as PIL's default); *out is freed with tessera_image_free.
int tessera_encode_jpeg(const uint8_t *pixels, int width, int height, int channels, int quality,
                        uint8_t **out, size_t *out_size, char error[256]);
void tessera_image_free(void *pointer);

#endif
