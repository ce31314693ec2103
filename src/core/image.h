/*
 * image.h: the in-memory image and the codec API (PNG via libpng, JPEG via
 * libjpeg-turbo).  Implementations: image.c (container, format detection),
 * image_png.c, image_jpeg.c.
 *
 * Pixel model: 8 bits per sample, interleaved, row-major, no padding.
 * channels is 1 (gray) or 3 (RGB).  Decoders reduce 16-bit to 8-bit,
 * expand palettes, and composite any alpha channel onto a black background
 * (out = colour * alpha / 255, rounded), so transparent areas read as the
 * dark background Fashion-MNIST-style models expect.  Gray files decode to
 * 1 channel; everything else to 3.
 */
#ifndef SP_IMAGE_H
#define SP_IMAGE_H

#include "sp_common.h"

typedef enum sp_image_format
{
	SP_FORMAT_UNKNOWN = 0,
	SP_FORMAT_PNG,
	SP_FORMAT_JPEG
} sp_image_format;

typedef struct sp_image
{
	int			width;
	int			height;
	int			channels;		/* 1 or 3 */
	uint8_t    *pixels;			/* width*height*channels bytes, from env->alloc */
} sp_image;

/* What the file header says, read without decoding pixels. */
typedef struct sp_image_info
{
	sp_image_format format;
	int			width;
	int			height;
	int			channels;		/* as stored: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA/CMYK */
	int			bit_depth;		/* 1,2,4,8,16 */
	int			interlaced;		/* PNG Adam7 or progressive JPEG */
	char		color_model[16];	/* "gray", "gray+alpha", "palette", "rgb", "rgba", "ycbcr", "cmyk" ... */
} sp_image_info;

/* Format from magic bytes only. */
extern sp_image_format sp_image_detect_format(const uint8_t *data, size_t len);
extern const char *sp_image_format_name(sp_image_format format);

/* Allocate an image (pixels uninitialised); checks size limits and overflow. */
extern sp_status sp_image_alloc(const sp_env *env, sp_image *img, int width,
								int height, int channels, sp_error *err);
extern void sp_image_free(const sp_env *env, sp_image *img);

/* Validate dimensions against env->max_pixels and overflow of w*h*c. */
extern sp_status sp_image_check_dims(const sp_env *env, uint64_t width,
									 uint64_t height, int channels, sp_error *err);

/* Read the header only (no pixel buffer).  Fails on unknown formats. */
extern sp_status sp_image_probe(const uint8_t *data, size_t len,
								sp_image_info *info, sp_error *err);

/* Decode PNG or JPEG (detected from magic bytes) into out. */
extern sp_status sp_image_decode(const sp_env *env, const uint8_t *data, size_t len,
								 sp_image *out, sp_error *err);

/*
 * Encoders.  *out is allocated with env->alloc; caller frees with sp_free.
 * PNG: lossless, 8-bit gray or RGB.  JPEG: given quality 1..100, 4:2:0
 * chroma subsampling for RGB (libjpeg's default), baseline unless
 * progressive is nonzero.
 */
extern sp_status sp_png_encode(const sp_env *env, const sp_image *img,
							   uint8_t **out, size_t *out_len, sp_error *err);
extern sp_status sp_jpeg_encode(const sp_env *env, const sp_image *img, int quality,
								int progressive, uint8_t **out, size_t *out_len,
								sp_error *err);

/* Per-format entry points (used by sp_image_decode / probe). */
extern sp_status sp_png_probe(const uint8_t *data, size_t len, sp_image_info *info, sp_error *err);
extern sp_status sp_png_decode(const sp_env *env, const uint8_t *data, size_t len,
							   sp_image *out, sp_error *err);
extern sp_status sp_jpeg_probe(const uint8_t *data, size_t len, sp_image_info *info, sp_error *err);
extern sp_status sp_jpeg_decode(const sp_env *env, const uint8_t *data, size_t len,
								sp_image *out, sp_error *err);

#endif							/* SP_IMAGE_H */
