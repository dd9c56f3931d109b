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

// A palette-indexed (or 8-bit grey) PNG as one index per pixel, with the file's palette.
typedef struct {
    uint8_t *indices;       // width * height bytes, freed with tessera_image_free
    int width;
    int height;
    uint8_t palette[768];   // RGB triples; palette_entries of them (0 for a grey file)
    int palette_entries;
    char error[256];
} tessera_indexed_image;

int tessera_decode_indexed_png(const uint8_t *data, size_t size, size_t max_pixels, tessera_indexed_image *out);
// Encodes indices as an 8-bit palette PNG with palette_entries (1…256) RGB triples.
int tessera_encode_indexed_png(const uint8_t *indices, int width, int height, const uint8_t *palette,
                               int palette_entries, uint8_t **out, size_t *out_size, char error[256]);
void tessera_image_free(void *pointer);

#endif
