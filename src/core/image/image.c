/*
 * image.c: the sp_image container, dimension limits and format detection.
 * The codecs themselves live in image_png.c and image_jpeg.c; this file only
 * dispatches to them by magic bytes.
 */
#include "image/image.h"

#include <stdbool.h>
#include <stddef.h>
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

/*
 * output: the image is one the extension creates (a corrupted image, a
 * canvas, a contact sheet), not one it decodes: the limit error says so, and
 * its hint does not talk about decoding.
 */
static sp_status
check_dims(const sp_env *env, uint64_t width, uint64_t height, int channels, bool output,
		   sp_error *err)
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
						 "%simage of %llux%llu pixels exceeds the hard limit of %llu pixels",
						 output ? "output " : "",
						 (unsigned long long) width, (unsigned long long) height,
						 (unsigned long long) SP_HARD_MAX_PIXELS);
		else
		{
			sp_set_error(err, SP_ERR_LIMIT,
						 "%simage of %llux%llu pixels exceeds the limit of %llu pixels",
						 output ? "output " : "",
						 (unsigned long long) width, (unsigned long long) height,
						 (unsigned long long) limit);
			if (output)
				sp_error_hint(err, "siamese.image.max_pixels limits the images the extension makes as well as "
							  "those it decodes: raise it (at most %llu) for a larger output.",
							  (unsigned long long) SP_HARD_MAX_PIXELS);
			else
				sp_error_hint(err, "Raise siamese.image.max_pixels (at most %llu) to decode larger images.",
							  (unsigned long long) SP_HARD_MAX_PIXELS);
		}
		return SP_ERR_LIMIT;
	}
	if (width > SP_IMAGE_MAX_SIDE || height > SP_IMAGE_MAX_SIDE)
	{
		sp_set_error(err, SP_ERR_LIMIT,
					 "%simage of %llux%llu pixels exceeds the maximum side length of %d pixels",
					 output ? "output " : "",
					 (unsigned long long) width, (unsigned long long) height,
					 SP_IMAGE_MAX_SIDE);
		return SP_ERR_LIMIT;
	}
	if (!sp_mul_size((size_t) pixels, (size_t) channels, &bytes))
		return sp_set_error(err, SP_ERR_LIMIT, "image buffer size overflows");
	return SP_OK;
}

sp_status
sp_image_check_dims(const sp_env *env, uint64_t width, uint64_t height,
					int channels, sp_error *err)
{
	return check_dims(env, width, height, channels, false, err);
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
	st = check_dims(env, (uint64_t) width, (uint64_t) height, channels, true, err);
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

sp_status
sp_image_apply_orientation(const sp_env *env, sp_image *img, int orientation, sp_error *err)
{
	int			w,
				h,
				c;
	size_t		row;
	sp_image	out;
	sp_status	st;

	if (!img || !img->pixels)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "image is NULL");
	w = img->width;
	h = img->height;
	c = img->channels;
	row = (size_t) w * (size_t) c;
	if (orientation < 2 || orientation > 8)
		return SP_OK;
	if (orientation <= 4)
	{
		/* 2 mirror (left-right), 3 rotate 180, 4 flip (top-bottom): in place */
		if (orientation != 2)
			for (int y = 0; y < h / 2; y++)
			{
				uint8_t    *a = img->pixels + (size_t) y * row,
						   *b = img->pixels + (size_t) (h - 1 - y) * row;

				for (size_t i = 0; i < row; i++)
				{
					uint8_t		t = a[i];

					a[i] = b[i];
					b[i] = t;
				}
			}
		if (orientation != 4)
			for (int y = 0; y < h; y++)
			{
				uint8_t    *p = img->pixels + (size_t) y * row;

				for (int x = 0; x < w / 2; x++)
					for (int k = 0; k < c; k++)
					{
						uint8_t		t = p[(size_t) x * c + k];

						p[(size_t) x * c + k] = p[(size_t) (w - 1 - x) * c + k];
						p[(size_t) (w - 1 - x) * c + k] = t;
					}
			}
		return SP_OK;
	}
	/*
	 * 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
	 * counter-clockwise: the output is h wide and w tall; output (ox, oy)
	 * takes the source pixel base + ox * dx + oy * dy (in pixels):
	 *   5: (oy, ox)           6: (oy, h-1-ox)
	 *   7: (w-1-oy, h-1-ox)   8: (w-1-oy, ox)
	 * copied in 32 x 32 tiles so that both sides stay in cache.
	 */
	st = sp_image_alloc(env, &out, h, w, c, err);
	if (st != SP_OK)
		return st;
	{
		ptrdiff_t	base,
					dx,
					dy;

		switch (orientation)
		{
			case 5:
				base = 0, dx = w, dy = 1;
				break;
			case 6:
				base = (ptrdiff_t) (h - 1) * w, dx = -(ptrdiff_t) w, dy = 1;
				break;
			case 7:
				base = (ptrdiff_t) (h - 1) * w + (w - 1), dx = -(ptrdiff_t) w, dy = -1;
				break;
			default:			/* 8 */
				base = w - 1, dx = w, dy = -1;
				break;
		}
		for (int ty = 0; ty < w; ty += 32)
		{
			int			ey = ty + 32 < w ? ty + 32 : w;

			if (sp_env_interrupted(env))
			{
				sp_image_free(env, &out);
				return sp_set_error(err, SP_ERR_INTERRUPTED, "image rotation was interrupted");
			}
			for (int tx = 0; tx < h; tx += 32)
			{
				int			ex = tx + 32 < h ? tx + 32 : h;

				for (int oy = ty; oy < ey; oy++)
				{
					uint8_t    *o = out.pixels + ((size_t) oy * (size_t) h + (size_t) tx) * (size_t) c;
					const uint8_t *p = img->pixels + (base + (ptrdiff_t) tx * dx + (ptrdiff_t) oy * dy) * c;
					ptrdiff_t	step = dx * c;

					if (c == 3)
						for (int ox = tx; ox < ex; ox++, o += 3, p += step)
						{
							o[0] = p[0];
							o[1] = p[1];
							o[2] = p[2];
						}
					else if (c == 1)
						for (int ox = tx; ox < ex; ox++, o++, p += step)
							o[0] = p[0];
					else
						for (int ox = tx; ox < ex; ox++, o += c, p += step)
							memcpy(o, p, (size_t) c);
				}
			}
		}
	}
	sp_image_free(env, img);
	*img = out;
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
