/*
 * image_png.c: PNG probe, decode and encode through libpng, from and to
 * memory.
 *
 * libpng reports errors by calling an error function that must not return.
 * Ours records the message and longjmps to a setjmp inside this file, so no
 * longjmp ever leaves the core.  Each setjmp lives in a small noinline
 * "run" function whose state is kept in a context struct owned by its
 * caller; the caller does all cleanup, so the error path and the normal path
 * free exactly the same things and no local of the setjmp frame needs to be
 * volatile.
 *
 * Pixel rules (16-bit reduction, alpha compositing) are in image.h.
 */
#include "image/image.h"

#include <png.h>
#include <zlib.h>
#include <setjmp.h>
#include <string.h>

/* Rows between interrupt polls. */
#define PNG_POLL_ROWS 16
/* Largest ancillary chunk libpng may buffer (iCCP, zTXt, ...). */
#define PNG_CHUNK_MALLOC_MAX ((png_alloc_size_t) 1 << 20)
/* Most unknown/ancillary chunks libpng will keep track of. */
#define PNG_CHUNK_CACHE_MAX 128

typedef struct png_ctx
{
	jmp_buf		jmp;
	const sp_env *env;
	sp_error   *err;
	/* status we set ourselves before calling png_error (e.g. NOMEM) */
	sp_status	status;
	char		msg[192];		/* last libpng error message */

	png_structp png;
	png_infop	info;

	/* reading */
	const uint8_t *data;
	size_t		len;
	size_t		pos;
	uint8_t    *raw;			/* one row, or all rows for interlaced files */
	sp_image	img;
	sp_image_info *probe;

	/* writing */
	const sp_image *src;
	sp_png_mode mode;
	uint8_t    *out;
	size_t		out_len;
	size_t		out_cap;
} png_ctx;

/* Ancillary chunks we never use; libpng skips them (CRC still checked). */
static const png_byte ignored_chunks[] =
	"bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";

__attribute__((noreturn))
static void
png_ctx_error(png_structp png, png_const_charp message)
{
	png_ctx    *ctx = (png_ctx *) png_get_error_ptr(png);

	snprintf(ctx->msg, sizeof(ctx->msg), "%s", message ? message : "unknown error");
	longjmp(ctx->jmp, 1);
}

static void
png_ctx_warning(png_structp png, png_const_charp message)
{
	/* Warnings (bad ancillary CRC, unknown sRGB profile ...) go nowhere. */
	(void) png;
	(void) message;
}

static void
png_ctx_read(png_structp png, png_bytep buf, size_t n)
{
	png_ctx    *ctx = (png_ctx *) png_get_io_ptr(png);

	if (n > ctx->len - ctx->pos)
		png_error(png, "unexpected end of data");
	memcpy(buf, ctx->data + ctx->pos, n);
	ctx->pos += n;
}

static void
png_ctx_write(png_structp png, png_bytep buf, size_t n)
{
	png_ctx    *ctx = (png_ctx *) png_get_io_ptr(png);

	if (n > ctx->out_cap - ctx->out_len)
	{
		size_t		need,
					cap = ctx->out_cap ? ctx->out_cap : 4096;
		uint8_t    *grown;

		if (!sp_add_size(ctx->out_len, n, &need))
		{
			ctx->status = SP_ERR_LIMIT;
			png_error(png, "encoded image too large");
		}
		while (cap < need)
		{
			if (!sp_mul_size(cap, 2, &cap))
			{
				ctx->status = SP_ERR_LIMIT;
				png_error(png, "encoded image too large");
			}
		}
		grown = sp_alloc(ctx->env, cap);
		if (!grown)
		{
			ctx->status = SP_ERR_NOMEM;
			png_error(png, "out of memory");
		}
		if (ctx->out_len)
			memcpy(grown, ctx->out, ctx->out_len);
		sp_free(ctx->env, ctx->out);
		ctx->out = grown;
		ctx->out_cap = cap;
	}
	memcpy(ctx->out + ctx->out_len, buf, n);
	ctx->out_len += n;
}

static void
png_ctx_flush(png_structp png)
{
	(void) png;
}

static uint32_t
be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

/* Turn a libpng failure (after longjmp) into an sp_error. */
static sp_status
png_failure(png_ctx *ctx, int encoding)
{
	sp_status	code = ctx->status != SP_OK ? ctx->status :
		encoding ? SP_ERR_INTERNAL : SP_ERR_CORRUPT;

	if (code == SP_ERR_NOMEM)
		sp_set_error(ctx->err, code, "out of memory while %s a PNG image",
					 encoding ? "encoding" : "decoding");
	else if (code == SP_ERR_CORRUPT)
		sp_set_error(ctx->err, code, "invalid PNG image");
	else
		sp_set_error(ctx->err, code, "could not %s PNG image",
					 encoding ? "encode" : "decode");
	sp_error_detail(ctx->err, "libpng: %s%s", ctx->msg,
					ctx->msg[0] && ctx->msg[strlen(ctx->msg) - 1] == '.' ? "" : ".");
	return code;
}

/* Create the read struct and apply our limits.  Called under setjmp. */
static sp_status
png_setup_read(png_ctx *ctx, png_uint_32 side_limit)
{
	ctx->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx,
									  png_ctx_error, png_ctx_warning);
	if (!ctx->png)
		return sp_set_error(ctx->err, SP_ERR_NOMEM, "out of memory creating the PNG decoder");
	ctx->info = png_create_info_struct(ctx->png);
	if (!ctx->info)
		return sp_set_error(ctx->err, SP_ERR_NOMEM, "out of memory creating the PNG decoder");
	png_set_read_fn(ctx->png, ctx, png_ctx_read);
	png_set_user_limits(ctx->png, side_limit, side_limit);
	png_set_chunk_malloc_max(ctx->png, PNG_CHUNK_MALLOC_MAX);
	png_set_chunk_cache_max(ctx->png, PNG_CHUNK_CACHE_MAX);
	png_set_keep_unknown_chunks(ctx->png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
	png_set_keep_unknown_chunks(ctx->png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks,
								(int) (sizeof(ignored_chunks) / 5));
	return SP_OK;
}

static const char *
png_color_model(int color_type)
{
	switch (color_type)
	{
		case PNG_COLOR_TYPE_GRAY:
			return "gray";
		case PNG_COLOR_TYPE_GRAY_ALPHA:
			return "gray+alpha";
		case PNG_COLOR_TYPE_PALETTE:
			return "palette";
		case PNG_COLOR_TYPE_RGB:
			return "rgb";
		case PNG_COLOR_TYPE_RGB_ALPHA:
			return "rgba";
	}
	return "unknown";
}

/* ------------------------------------------------------------------------ */
/* Probe */

__attribute__((noinline))
static sp_status
png_probe_run(png_ctx *ctx)
{
	sp_image_info *info = ctx->probe;
	sp_status	st;

	if (setjmp(ctx->jmp))
		return png_failure(ctx, 0);

	/* Report any size libpng can represent: image_info describes, not decodes. */
	st = png_setup_read(ctx, PNG_UINT_31_MAX);
	if (st != SP_OK)
		return st;
	png_read_info(ctx->png, ctx->info);

	info->format = SP_FORMAT_PNG;
	info->orientation = 1;
	info->width = (int) png_get_image_width(ctx->png, ctx->info);
	info->height = (int) png_get_image_height(ctx->png, ctx->info);
	info->channels = png_get_channels(ctx->png, ctx->info);
	info->bit_depth = png_get_bit_depth(ctx->png, ctx->info);
	info->interlaced = png_get_interlace_type(ctx->png, ctx->info) != PNG_INTERLACE_NONE;
	snprintf(info->color_model, sizeof(info->color_model), "%s",
			 png_color_model(png_get_color_type(ctx->png, ctx->info)));
	return SP_OK;
}

sp_status
sp_png_probe(const uint8_t *data, size_t len, sp_image_info *info, sp_error *err)
{
	png_ctx		ctx;
	sp_status	st;

	if (!info)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "image info is NULL");
	memset(info, 0, sizeof(*info));
	memset(&ctx, 0, sizeof(ctx));
	ctx.env = sp_env_default();
	ctx.err = err;
	ctx.data = data;
	ctx.len = data ? len : 0;
	ctx.probe = info;
	st = png_probe_run(&ctx);
	if (ctx.png)
		png_destroy_read_struct(&ctx.png, ctx.info ? &ctx.info : NULL, NULL);
	if (st != SP_OK)
		memset(info, 0, sizeof(*info));
	return st;
}

/* ------------------------------------------------------------------------ */
/* Decode */

static inline uint8_t
scale16(const uint8_t *p)
{
	unsigned	v = ((unsigned) p[0] << 8) | p[1];

	return (uint8_t) ((v + 128) / 257);
}

static inline uint8_t
composite(unsigned c, unsigned a)
{
	return (uint8_t) ((c * a + 127) / 255);
}

/*
 * Convert one row of libpng output (sc = 1..4 channels of 8 or 16 bits,
 * big-endian) into our 8-bit 1- or 3-channel layout, compositing alpha.
 */
static void
png_convert_row(const uint8_t *src, uint8_t *dst, int width, int sc, int depth)
{
	int			step = depth == 16 ? 2 : 1;

	for (int x = 0; x < width; x++)
	{
		unsigned	s[4];

		for (int c = 0; c < sc; c++)
			s[c] = step == 2 ? scale16(src + 2 * c) : src[c];
		src += sc * step;
		switch (sc)
		{
			case 1:
				*dst++ = (uint8_t) s[0];
				break;
			case 2:
				*dst++ = composite(s[0], s[1]);
				break;
			case 3:
				*dst++ = (uint8_t) s[0];
				*dst++ = (uint8_t) s[1];
				*dst++ = (uint8_t) s[2];
				break;
			default:
				*dst++ = composite(s[0], s[3]);
				*dst++ = composite(s[1], s[3]);
				*dst++ = composite(s[2], s[3]);
				break;
		}
	}
}

static sp_status
png_interrupted(png_ctx *ctx)
{
	return sp_set_error(ctx->err, SP_ERR_INTERRUPTED, "PNG decoding was interrupted");
}

__attribute__((noinline))
static sp_status
png_decode_run(png_ctx *ctx)
{
	sp_status	st;
	png_uint_32 width,
				height;
	int			color_type,
				interlace,
				passes,
				sc,
				depth,
				oc;
	size_t		rowbytes,
				rawsize;
	unsigned	polls = 0;

	if (setjmp(ctx->jmp))
		return png_failure(ctx, 0);

	/*
	 * Check the size from IHDR ourselves before libpng runs, so an oversized
	 * image gets our limit error (with the GUC hint) rather than libpng's
	 * user-limit message.  Malformed headers are left for libpng to report.
	 */
	if (ctx->len >= 33 && be32(ctx->data + 8) == 13 && memcmp(ctx->data + 12, "IHDR", 4) == 0)
	{
		st = sp_image_check_dims(ctx->env, be32(ctx->data + 16), be32(ctx->data + 20),
								 (ctx->data[25] & PNG_COLOR_MASK_COLOR) ? 3 : 1, ctx->err);
		if (st != SP_OK)
			return st;
	}

	st = png_setup_read(ctx, SP_IMAGE_MAX_SIDE);
	if (st != SP_OK)
		return st;
	png_read_info(ctx->png, ctx->info);
	width = png_get_image_width(ctx->png, ctx->info);
	height = png_get_image_height(ctx->png, ctx->info);
	color_type = png_get_color_type(ctx->png, ctx->info);
	interlace = png_get_interlace_type(ctx->png, ctx->info);
	oc = (color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
	st = sp_image_check_dims(ctx->env, width, height, oc, ctx->err);
	if (st != SP_OK)
		return st;

	/* Palette -> RGB, 1/2/4-bit gray -> 8-bit, tRNS -> alpha channel. */
	png_set_expand(ctx->png);
	passes = png_set_interlace_handling(ctx->png);
	png_read_update_info(ctx->png, ctx->info);
	sc = png_get_channels(ctx->png, ctx->info);
	depth = png_get_bit_depth(ctx->png, ctx->info);
	rowbytes = png_get_rowbytes(ctx->png, ctx->info);
	if (sc < 1 || sc > 4 || (depth != 8 && depth != 16) ||
		rowbytes != (size_t) width * (size_t) sc * (size_t) (depth / 8) ||
		(sc <= 2 ? 1 : 3) != oc)
		return sp_set_error(ctx->err, SP_ERR_INTERNAL,
							"unexpected PNG layout after transformations (%d channels, %d bits)",
							sc, depth);

	st = sp_image_alloc(ctx->env, &ctx->img, (int) width, (int) height, oc, ctx->err);
	if (st != SP_OK)
		return st;
	rawsize = rowbytes;
	if (interlace != PNG_INTERLACE_NONE &&
		!sp_mul_size(rowbytes, (size_t) height, &rawsize))
		return sp_set_error(ctx->err, SP_ERR_LIMIT, "PNG image buffer size overflows");
	ctx->raw = sp_alloc(ctx->env, rawsize);
	if (!ctx->raw)
		return sp_set_error(ctx->err, SP_ERR_NOMEM,
							"out of memory decoding a %ux%u PNG image",
							(unsigned) width, (unsigned) height);
	/* Interlaced passes fill in pixels of rows already present: start clean. */
	if (interlace != PNG_INTERLACE_NONE)
		memset(ctx->raw, 0, rawsize);

	for (int pass = 0; pass < passes; pass++)
	{
		for (png_uint_32 y = 0; y < height; y++)
		{
			uint8_t    *row = interlace != PNG_INTERLACE_NONE ? ctx->raw + (size_t) y * rowbytes : ctx->raw;

			if (polls++ % PNG_POLL_ROWS == 0 && sp_env_interrupted(ctx->env))
				return png_interrupted(ctx);
			png_read_row(ctx->png, row, NULL);
			if (interlace == PNG_INTERLACE_NONE)
				png_convert_row(row, ctx->img.pixels + (size_t) y * width * oc,
								(int) width, sc, depth);
		}
	}
	if (interlace != PNG_INTERLACE_NONE)
	{
		for (png_uint_32 y = 0; y < height; y++)
		{
			if (y % PNG_POLL_ROWS == 0 && sp_env_interrupted(ctx->env))
				return png_interrupted(ctx);
			png_convert_row(ctx->raw + (size_t) y * rowbytes,
							ctx->img.pixels + (size_t) y * width * oc,
							(int) width, sc, depth);
		}
	}
	/* Read to IEND so CRC errors and truncation after the pixels are caught. */
	png_read_end(ctx->png, NULL);
	return SP_OK;
}

sp_status
sp_png_decode(const sp_env *env, const uint8_t *data, size_t len,
			  sp_image *out, sp_error *err)
{
	png_ctx		ctx;
	sp_status	st;

	if (!out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "output image is NULL");
	memset(out, 0, sizeof(*out));
	if (!env)
		env = sp_env_default();
	memset(&ctx, 0, sizeof(ctx));
	ctx.env = env;
	ctx.err = err;
	ctx.data = data;
	ctx.len = data ? len : 0;
	st = png_decode_run(&ctx);
	if (ctx.png)
		png_destroy_read_struct(&ctx.png, ctx.info ? &ctx.info : NULL, NULL);
	sp_free(env, ctx.raw);
	if (st != SP_OK)
	{
		sp_image_free(env, &ctx.img);
		return st;
	}
	*out = ctx.img;
	return SP_OK;
}

/* ------------------------------------------------------------------------ */
/* Encode */

/*
 * zlib window for encoding img: the smallest power of two (2^8..2^15)
 * covering the filtered data.  With the hash table sized to match (memLevel
 * = bits - 7), small images skip zlib's default ~256 kB allocate-and-clear,
 * which otherwise costs 3x the real work for a 28x28 image.  Large images
 * get zlib's defaults (15, 8).
 */
static int
png_window_bits(const sp_image *img)
{
	size_t		raw = ((size_t) img->width * (size_t) img->channels + 1) * (size_t) img->height;
	int			bits = 9;

	while (bits < 15 && ((size_t) 1 << bits) < raw)
		bits++;
	return bits;
}

__attribute__((noinline))
static sp_status
png_encode_run(png_ctx *ctx)
{
	const sp_image *img = ctx->src;
	size_t		stride = (size_t) img->width * (size_t) img->channels;

	if (setjmp(ctx->jmp))
		return png_failure(ctx, 1);

	ctx->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx,
									   png_ctx_error, png_ctx_warning);
	if (!ctx->png)
		return sp_set_error(ctx->err, SP_ERR_NOMEM, "out of memory creating the PNG encoder");
	ctx->info = png_create_info_struct(ctx->png);
	if (!ctx->info)
		return sp_set_error(ctx->err, SP_ERR_NOMEM, "out of memory creating the PNG encoder");
	png_set_write_fn(ctx->png, ctx, png_ctx_write, png_ctx_flush);
	/* Fixed settings so the same pixels always give the same bytes (per mode). */
	if (ctx->mode == SP_PNG_FAST)
	{
		/*
		 * One filter (Up) instead of libpng's per-row trial of all five, and
		 * zlib's run-length strategy instead of level 6's match search: 3 to
		 * 12x faster to encode at 224 px, faster to decode (no Paeth), files
		 * within about 10 % of level 6 except on flat blocks (pixelate 1.6x).
		 * The level only matters without Z_RLE; 1 is the fastest.
		 */
		png_set_filter(ctx->png, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);
		png_set_compression_level(ctx->png, 1);
		png_set_compression_strategy(ctx->png, Z_RLE);
	}
	else
		png_set_compression_level(ctx->png, 6);
	png_set_compression_window_bits(ctx->png, png_window_bits(img));
	png_set_compression_mem_level(ctx->png, png_window_bits(img) - 7);
	png_set_IHDR(ctx->png, ctx->info, (png_uint_32) img->width, (png_uint_32) img->height, 8,
				 img->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
				 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(ctx->png, ctx->info);
	for (int y = 0; y < img->height; y++)
	{
		if (y % PNG_POLL_ROWS == 0 && sp_env_interrupted(ctx->env))
			return sp_set_error(ctx->err, SP_ERR_INTERRUPTED, "PNG encoding was interrupted");
		png_write_row(ctx->png, img->pixels + (size_t) y * stride);
	}
	png_write_end(ctx->png, NULL);
	return SP_OK;
}

/* Argument checks shared with the JPEG encoder's expectations. */
static sp_status
check_encode_args(const sp_image *img, uint8_t **out, size_t *out_len, sp_error *err)
{
	size_t		bytes;

	if (!img || !out || !out_len)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "NULL argument to image encoder");
	if (!img->pixels || img->width <= 0 || img->height <= 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "cannot encode an empty image");
	if (img->channels != 1 && img->channels != 3)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"cannot encode an image with %d channels", img->channels);
	if (img->width > SP_IMAGE_MAX_SIDE || img->height > SP_IMAGE_MAX_SIDE ||
		!sp_mul_size((size_t) img->width, (size_t) img->height, &bytes) ||
		!sp_mul_size(bytes, (size_t) img->channels, &bytes))
		return sp_set_error(err, SP_ERR_LIMIT, "image of %dx%d pixels is too large to encode",
							img->width, img->height);
	return SP_OK;
}

sp_status
sp_png_encode(const sp_env *env, const sp_image *img,
			  uint8_t **out, size_t *out_len, sp_error *err)
{
	return sp_png_encode_mode(env, img, SP_PNG_COMPACT, out, out_len, err);
}

sp_status
sp_png_encode_mode(const sp_env *env, const sp_image *img, sp_png_mode mode,
				   uint8_t **out, size_t *out_len, sp_error *err)
{
	png_ctx		ctx;
	sp_status	st;

	st = check_encode_args(img, out, out_len, err);
	if (st != SP_OK)
		return st;
	*out = NULL;
	*out_len = 0;
	if (!env)
		env = sp_env_default();
	memset(&ctx, 0, sizeof(ctx));
	ctx.env = env;
	ctx.err = err;
	ctx.src = img;
	ctx.mode = mode;
	st = png_encode_run(&ctx);
	if (ctx.png)
		png_destroy_write_struct(&ctx.png, ctx.info ? &ctx.info : NULL);
	if (st != SP_OK)
	{
		sp_free(env, ctx.out);
		return st;
	}
	*out = ctx.out;
	*out_len = ctx.out_len;
	return SP_OK;
}
