/*
 * image.c: the sp_image container, dimension limits and format detection.
 * The codecs themselves live in image_png.c and image_jpeg.c; this file only
 * dispatches to them by magic bytes.
 */
#include "image/image.h"

#include <string.h>

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

sp_image_format
sp_image_detect_format(const uint8_t *data, size_t len)
{
	if (!data)
		return SP_FORMAT_UNKNOWN;
	if (len >= 8 && memcmp(data, png_magic, 8) == 0)
		return SP_FORMAT_PNG;
	/* SOI followed by the first byte of any marker. */
	if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
		return SP_FORMAT_JPEG;
	return SP_FORMAT_UNKNOWN;
}

const char *
sp_image_format_name(sp_image_format format)
{
	switch (format)
	{
		case SP_FORMAT_PNG:
			return "png";
		case SP_FORMAT_JPEG:
			return "jpeg";
		case SP_FORMAT_UNKNOWN:
			break;
	}
	return "unknown";
}

/*
 * Name well-known formats we do not decode, so the error can say "GIF is not
 * supported" instead of "garbage".
 */
static const char *
other_format_name(const uint8_t *data, size_t len)
{
	if (len >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0))
		return "GIF";
	if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
		return "WebP";
	if (len >= 4 && (memcmp(data, "II*\0", 4) == 0 || memcmp(data, "MM\0*", 4) == 0))
		return "TIFF";
	if (len >= 2 && data[0] == 'B' && data[1] == 'M')
		return "BMP";
	if (len >= 12 && memcmp(data + 4, "ftyp", 4) == 0)
		return "HEIF/AVIF";
	return NULL;
}

/* Error for data that is neither PNG nor JPEG. */
static sp_status
unknown_format_error(const uint8_t *data, size_t len, sp_error *err)
{
	const char *other;

	if (!data || len == 0)
	{
		sp_set_error(err, SP_ERR_CORRUPT, "image data is empty");
		return SP_ERR_CORRUPT;
	}
	other = other_format_name(data, len);
	if (other)
	{
		sp_set_error(err, SP_ERR_UNSUPPORTED, "%s images are not supported", other);
		sp_error_hint(err, "Convert the image to PNG or JPEG.");
		return SP_ERR_UNSUPPORTED;
	}
	sp_set_error(err, SP_ERR_CORRUPT, "unrecognized image format");
	sp_error_detail(err, "The data does not start with a PNG or JPEG signature.");
	return SP_ERR_CORRUPT;
}

sp_status
sp_image_check_dims(const sp_env *env, uint64_t width, uint64_t height,
					int channels, sp_error *err)
{
	uint64_t	limit = env ? env->max_pixels : SP_DEFAULT_MAX_PIXELS;
	uint64_t	pixels;
	size_t		bytes;

	if (limit == 0)
		limit = SP_DEFAULT_MAX_PIXELS;
	if (channels < 1 || channels > 4)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"invalid number of image channels: %d", channels);
	if (width == 0 || height == 0)
		return sp_set_error(err, SP_ERR_CORRUPT,
							"image has zero width or height");
	if (limit > SP_HARD_MAX_PIXELS)
		limit = SP_HARD_MAX_PIXELS;
	if (__builtin_mul_overflow(width, height, &pixels) || pixels > limit)
	{
		if (limit == SP_HARD_MAX_PIXELS)
			sp_set_error(err, SP_ERR_LIMIT,
						 "image of %llux%llu pixels exceeds the hard limit of %llu pixels",
						 (unsigned long long) width, (unsigned long long) height,
						 (unsigned long long) SP_HARD_MAX_PIXELS);
		else
		{
			sp_set_error(err, SP_ERR_LIMIT,
						 "image of %llux%llu pixels exceeds the limit of %llu pixels",
						 (unsigned long long) width, (unsigned long long) height,
						 (unsigned long long) limit);
			sp_error_hint(err, "Raise siamese.image.max_pixels (at most %llu) to decode larger images.",
						  (unsigned long long) SP_HARD_MAX_PIXELS);
		}
		return SP_ERR_LIMIT;
	}
	if (width > SP_IMAGE_MAX_SIDE || height > SP_IMAGE_MAX_SIDE)
	{
		sp_set_error(err, SP_ERR_LIMIT,
					 "image of %llux%llu pixels exceeds the maximum side length of %d pixels",
					 (unsigned long long) width, (unsigned long long) height,
					 SP_IMAGE_MAX_SIDE);
		return SP_ERR_LIMIT;
	}
	if (!sp_mul_size((size_t) pixels, (size_t) channels, &bytes))
		return sp_set_error(err, SP_ERR_LIMIT, "image buffer size overflows");
	return SP_OK;
}

sp_status
sp_image_alloc(const sp_env *env, sp_image *img, int width, int height,
			   int channels, sp_error *err)
{
	sp_status	st;

	if (!img)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "image is NULL");
	memset(img, 0, sizeof(*img));
	if (width < 0 || height < 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"negative image dimensions %dx%d", width, height);
	st = sp_image_check_dims(env, (uint64_t) width, (uint64_t) height, channels, err);
	if (st != SP_OK)
		return st;
	img->pixels = sp_alloc(env, (size_t) width * (size_t) height * (size_t) channels);
	if (!img->pixels)
		return sp_set_error(err, SP_ERR_NOMEM,
							"out of memory allocating a %dx%d image", width, height);
	img->width = width;
	img->height = height;
	img->channels = channels;
	return SP_OK;
}

void
sp_image_free(const sp_env *env, sp_image *img)
{
	if (!img)
		return;
	sp_free(env, img->pixels);
	img->pixels = NULL;
	img->width = img->height = img->channels = 0;
}

sp_status
sp_image_probe(const uint8_t *data, size_t len, sp_image_info *info, sp_error *err)
{
	if (!info)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "image info is NULL");
	memset(info, 0, sizeof(*info));
	switch (sp_image_detect_format(data, len))
	{
		case SP_FORMAT_PNG:
			return sp_png_probe(data, len, info, err);
		case SP_FORMAT_JPEG:
			return sp_jpeg_probe(data, len, info, err);
		case SP_FORMAT_UNKNOWN:
			break;
	}
	return unknown_format_error(data, len, err);
}

sp_status
sp_image_decode(const sp_env *env, const uint8_t *data, size_t len,
				sp_image *out, sp_error *err)
{
	if (!out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "output image is NULL");
	memset(out, 0, sizeof(*out));
	switch (sp_image_detect_format(data, len))
	{
		case SP_FORMAT_PNG:
			return sp_png_decode(env, data, len, out, err);
		case SP_FORMAT_JPEG:
			return sp_jpeg_decode(env, data, len, out, err);
		case SP_FORMAT_UNKNOWN:
			break;
	}
	return unknown_format_error(data, len, err);
}
