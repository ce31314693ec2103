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
 *
 * Exact rules (docs/images.md has the full table):
 *   16 -> 8 bits : out = round(v / 257) = (v + 128) / 257, applied to colour
 *                  and alpha samples before compositing.
 *   alpha        : out = round(c * a / 255) = (c * a + 127) / 255 on 8-bit
 *                  values; a tRNS chunk becomes an alpha channel first.
 *   low depths   : 1/2/4-bit gray is scaled to 0..255 (1-bit 1 -> 255).
 *   palettes     : expanded to RGB (3 channels), even if every entry is gray.
 *   gamma / ICC  : ignored (samples are taken as stored).
 *   JPEG CMYK    : converted to RGB without colour management:
 *                  R = C * K / 255 for Adobe (inverted) CMYK, otherwise
 *                  R = (255 - C) * (255 - K) / 255; YCCK likewise after
 *                  libjpeg's YCC -> CMY step.
 *
 * JPEG EXIF orientation: the decoder reads the Orientation tag (0x0112) of
 * the first APP1 "Exif" segment's IFD0 and applies it (2: mirror, 3: 180
 * degrees, 4: flip, 5: transpose, 6: 90 degrees clockwise, 7: transverse, 8:
 * 90 degrees counter-clockwise), so every caller gets the upright image, as
 * PIL's ImageOps.exif_transpose gives it; the probe reports the upright
 * width and height.  A missing, malformed or out-of-range tag is orientation
 * 1 (as stored): a bad Exif block never fails the decode.
 *
 * Limits: every decoder reads the header first and calls
 * sp_image_check_dims() before allocating anything proportional to the
 * image, so a tiny file claiming a huge image costs nothing.
 */
#ifndef SP_IMAGE_H
#define SP_IMAGE_H

#include "util/sp_common.h"

/* Longest side any decoder accepts, whatever max_pixels says. */
#define SP_IMAGE_MAX_SIDE 65535
/* Progressive JPEGs with more scans than this are rejected (CPU bomb guard). */
#define SP_JPEG_MAX_SCANS 256

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
	int			channels;		/* 1 or 3 from decoders; alloc accepts 1..4 */
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
	int			orientation;	/* EXIF orientation the decoder applies: 1 (none) .. 8;
								 * width and height above are after it */
} sp_image_info;

/* Format from magic bytes only. */
extern sp_image_format sp_image_detect_format(const uint8_t *data, size_t len);
extern const char *sp_image_format_name(sp_image_format format);

/*
 * Allocate an image (pixels uninitialised); checks size limits and overflow
 * as sp_image_check_dims does, for an image the extension creates ("output
 * image of WxH pixels exceeds ...", with a hint about outputs, not decoding).
 */
extern sp_status sp_image_alloc(const sp_env *env, sp_image *img, int width,
								int height, int channels, sp_error *err);
extern void sp_image_free(const sp_env *env, sp_image *img);

/*
 * Validate dimensions: nonzero, each side <= SP_IMAGE_MAX_SIDE, w*h <=
 * env->max_pixels (0 means SP_DEFAULT_MAX_PIXELS; never above
 * SP_HARD_MAX_PIXELS) and w*h*c representable in size_t.  channels 1..4.
 */
extern sp_status sp_image_check_dims(const sp_env *env, uint64_t width,
									 uint64_t height, int channels, sp_error *err);

/*
 * Read the header only (no pixel buffer).  Fails on unknown formats.  Does not
 * apply max_pixels: it may describe images too big to decode.
 */
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

/*
 * PNG encoder settings.  COMPACT (sp_png_encode): libpng's adaptive filters
 * and zlib level 6, for images that are kept (to_png, charts, plots, contact
 * sheets).  FAST: the Up filter and zlib's run-length strategy, for the
 * outputs of corrupt() and perturbation_frames() that are usually embedded
 * at once: several times faster to encode and faster to decode, files a
 * little larger.  Each mode gives the same bytes for the same pixels.
 */
typedef enum sp_png_mode
{
	SP_PNG_COMPACT = 0,
	SP_PNG_FAST = 1
} sp_png_mode;

extern sp_status sp_png_encode_mode(const sp_env *env, const sp_image *img, sp_png_mode mode,
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

/*
 * The EXIF orientation (1..8) in the payload of a JPEG APP1 segment (the
 * bytes after its length field: "Exif\0\0" and a TIFF structure, either
 * byte order); 1 for anything else.  Reads only inside data[0..len).
 */
extern int	sp_exif_orientation(const uint8_t *data, size_t len);

/*
 * Apply an EXIF orientation (1..8) to a decoded image, replacing its pixels
 * (5..8 swap width and height).  Other values leave the image unchanged.
 */
extern sp_status sp_image_apply_orientation(const sp_env *env, sp_image *img, int orientation,
											sp_error *err);

#endif							/* SP_IMAGE_H */
