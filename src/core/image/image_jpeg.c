/*
 * image_jpeg.c: JPEG probe, decode and encode through libjpeg-turbo, from
 * and to memory.
 *
 * libjpeg reports fatal errors through error_exit, which must not return.
 * Ours formats the message into the context and longjmps to a setjmp inside
 * this file; warnings (e.g. "extraneous bytes before marker") are dropped.
 * As in image_png.c, each setjmp sits in a noinline "run" function whose
 * state lives in a context owned by the caller, and the caller does all the
 * cleanup on both paths.
 *
 * Strictness: the memory source raises "premature end of input" instead of
 * libjpeg's usual trick of inventing an EOI marker, so truncated files are
 * errors rather than half-grey images.  A progress monitor polls for
 * interrupts inside jpeg_start_decompress (where progressive files do most
 * of their work) and caps the number of scans.
 *
 * CMYK and YCCK files (Photoshop writes "Adobe" inverted CMYK) are converted
 * to RGB without colour management; the rule is in image.h.
 *
 * APP1 segments are kept (jpeg_save_markers) so that the EXIF orientation
 * of the first "Exif" one (image_exif.c) can be applied after decoding and
 * reported by the probe (image.h).
 */
#include "image/image.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define JPEG_POLL_ROWS 16

typedef struct jpeg_ctx
{
	/* Must be first: callbacks get the context by casting cinfo->err. */
	struct jpeg_error_mgr jerr;
	jmp_buf		jmp;
	const sp_env *env;
	sp_error   *err;
	sp_status	status;			/* our own reason for an ERREXIT, if any */
	char		msg[JMSG_LENGTH_MAX];
	int			msg_code;
	unsigned	progress_calls;

	struct jpeg_decompress_struct d;
	int			d_created;
	struct jpeg_source_mgr src;
	struct jpeg_progress_mgr progress;
	const uint8_t *data;
	size_t		len;
	sp_image	img;
	uint8_t    *row;			/* CMYK scanline before conversion */
	sp_image_info *probe;
	int			orientation;	/* EXIF, 1..8 */

	struct jpeg_compress_struct c;
	int			c_created;
	struct jpeg_destination_mgr dest;
	const sp_image *srcimg;
	int			quality;
	int			progressive;
	uint8_t    *out;
	size_t		out_len;
	size_t		out_cap;
} jpeg_ctx;

static jpeg_ctx *
ctx_of(j_common_ptr cinfo)
{
	return (jpeg_ctx *) cinfo->err;
}

__attribute__((noreturn))
static void
jpeg_ctx_error_exit(j_common_ptr cinfo)
{
	jpeg_ctx   *ctx = ctx_of(cinfo);

	ctx->msg_code = cinfo->err->msg_code;
	(*cinfo->err->format_message) (cinfo, ctx->msg);
	longjmp(ctx->jmp, 1);
}

static void
jpeg_ctx_output_message(j_common_ptr cinfo)
{
	(void) cinfo;
}

static void
jpeg_ctx_emit_message(j_common_ptr cinfo, int msg_level)
{
	/* Count warnings like libjpeg does, but print nothing. */
	if (msg_level < 0)
		cinfo->err->num_warnings++;
}

static void
install_error_mgr(jpeg_ctx *ctx)
{
	jpeg_std_error(&ctx->jerr);
	ctx->jerr.error_exit = jpeg_ctx_error_exit;
	ctx->jerr.output_message = jpeg_ctx_output_message;
	ctx->jerr.emit_message = jpeg_ctx_emit_message;
}

/* Raise a fatal error of our own through libjpeg's error path. */
__attribute__((noreturn))
static void
jpeg_ctx_fail(j_common_ptr cinfo, sp_status status, const char *msg)
{
	jpeg_ctx   *ctx = ctx_of(cinfo);

	ctx->status = status;
	snprintf(ctx->msg, sizeof(ctx->msg), "%s", msg);
	ctx->msg_code = -1;
	longjmp(ctx->jmp, 1);
}

/* ------------------------------------------------------------------------ */
/* Memory source */

static void
src_init(j_decompress_ptr cinfo)
{
	(void) cinfo;
}

static boolean
src_fill(j_decompress_ptr cinfo)
{
	/* The whole file was supplied up front: asking for more means truncation. */
	ERREXIT(cinfo, JERR_INPUT_EOF);
	return FALSE;
}

static void
src_skip(j_decompress_ptr cinfo, long num_bytes)
{
	struct jpeg_source_mgr *src = cinfo->src;

	if (num_bytes <= 0)
		return;
	if ((unsigned long) num_bytes > src->bytes_in_buffer)
		ERREXIT(cinfo, JERR_INPUT_EOF);
	src->next_input_byte += num_bytes;
	src->bytes_in_buffer -= (size_t) num_bytes;
}

static void
src_term(j_decompress_ptr cinfo)
{
	(void) cinfo;
}

static void
progress_monitor(j_common_ptr cinfo)
{
	jpeg_ctx   *ctx = ctx_of(cinfo);
	j_decompress_ptr d = (j_decompress_ptr) cinfo;

	if (!cinfo->is_decompressor)
		return;
	if (d->input_scan_number > SP_JPEG_MAX_SCANS)
	{
		char		buf[96];

		snprintf(buf, sizeof(buf), "more than %d scans in a progressive JPEG image",
				 SP_JPEG_MAX_SCANS);
		jpeg_ctx_fail(cinfo, SP_ERR_LIMIT, buf);
	}
	if (ctx->progress_calls++ % JPEG_POLL_ROWS == 0 && sp_env_interrupted(ctx->env))
		jpeg_ctx_fail(cinfo, SP_ERR_INTERRUPTED, "interrupted");
}

static sp_status
jpeg_status_of(int msg_code)
{
	switch (msg_code)
	{
		case JERR_IMAGE_TOO_BIG:
		case JERR_WIDTH_OVERFLOW:
			return SP_ERR_LIMIT;
		case JERR_BAD_PRECISION:
		case JERR_NOT_COMPILED:
		case JERR_NOTIMPL:
		case JERR_CONVERSION_NOTIMPL:
		case JERR_CCIR601_NOTIMPL:
			return SP_ERR_UNSUPPORTED;
		case JERR_OUT_OF_MEMORY:
			return SP_ERR_NOMEM;
		default:
			return SP_ERR_CORRUPT;
	}
}

static sp_status
jpeg_failure(jpeg_ctx *ctx, int encoding)
{
	sp_status	code = ctx->status;

	if (code == SP_OK)
		code = encoding ? SP_ERR_INTERNAL : jpeg_status_of(ctx->msg_code);
	switch (code)
	{
		case SP_ERR_INTERRUPTED:
			return sp_set_error(ctx->err, code, "JPEG %s was interrupted",
								encoding ? "encoding" : "decoding");
		case SP_ERR_NOMEM:
			sp_set_error(ctx->err, code, "out of memory while %s a JPEG image",
						 encoding ? "encoding" : "decoding");
			break;
		case SP_ERR_CORRUPT:
			sp_set_error(ctx->err, code, "invalid JPEG image");
			break;
		case SP_ERR_UNSUPPORTED:
			sp_set_error(ctx->err, code, "unsupported JPEG image");
			break;
		case SP_ERR_LIMIT:
			sp_set_error(ctx->err, code, "JPEG image exceeds a decoder limit");
			break;
		default:
			sp_set_error(ctx->err, code, "could not %s JPEG image",
						 encoding ? "encode" : "decode");
			break;
	}
	sp_error_detail(ctx->err, "libjpeg: %s%s", ctx->msg,
					ctx->msg[0] && ctx->msg[strlen(ctx->msg) - 1] == '.' ? "" : ".");
	return code;
}

/* Create the decompressor over ctx->data and read the header. */
static void
jpeg_open(jpeg_ctx *ctx)
{
	install_error_mgr(ctx);
	ctx->d.err = &ctx->jerr;
	ctx->d_created = 1;
	jpeg_create_decompress(&ctx->d);
	ctx->src.init_source = src_init;
	ctx->src.fill_input_buffer = src_fill;
	ctx->src.skip_input_data = src_skip;
	ctx->src.resync_to_restart = jpeg_resync_to_restart;
	ctx->src.term_source = src_term;
	ctx->src.next_input_byte = ctx->data;
	ctx->src.bytes_in_buffer = ctx->len;
	ctx->d.src = &ctx->src;
	ctx->progress.progress_monitor = progress_monitor;
	ctx->d.progress = &ctx->progress;
	/* keep APP1 (EXIF) payloads; 0xFFFF is the largest a segment can hold */
	jpeg_save_markers(&ctx->d, JPEG_APP0 + 1, 0xFFFF);
	(void) jpeg_read_header(&ctx->d, TRUE);
	ctx->orientation = 1;
	for (jpeg_saved_marker_ptr m = ctx->d.marker_list; m; m = m->next)
		if (m->marker == JPEG_APP0 + 1 && m->data && m->data_length >= 6 &&
			memcmp(m->data, "Exif\0\0", 6) == 0)
		{
			/* the first Exif segment counts, as in PIL */
			ctx->orientation = sp_exif_orientation(m->data, m->data_length);
			break;
		}
}

static const char *
jpeg_color_model(J_COLOR_SPACE cs)
{
	switch (cs)
	{
		case JCS_GRAYSCALE:
			return "gray";
		case JCS_YCbCr:
			return "ycbcr";
		case JCS_RGB:
			return "rgb";
		case JCS_CMYK:
			return "cmyk";
		case JCS_YCCK:
			return "ycck";
		default:
			return "unknown";
	}
}

/* ------------------------------------------------------------------------ */
/* Probe */

__attribute__((noinline))
static sp_status
jpeg_probe_run(jpeg_ctx *ctx)
{
	sp_image_info *info = ctx->probe;

	if (setjmp(ctx->jmp))
		return jpeg_failure(ctx, 0);
	jpeg_open(ctx);
	info->format = SP_FORMAT_JPEG;
	info->orientation = ctx->orientation;
	/* upright size: orientations 5..8 swap the sides */
	info->width = (int) (ctx->orientation >= 5 ? ctx->d.image_height : ctx->d.image_width);
	info->height = (int) (ctx->orientation >= 5 ? ctx->d.image_width : ctx->d.image_height);
	info->channels = ctx->d.num_components;
	info->bit_depth = ctx->d.data_precision;
	info->interlaced = ctx->d.progressive_mode ? 1 : 0;
	snprintf(info->color_model, sizeof(info->color_model), "%s",
			 jpeg_color_model(ctx->d.jpeg_color_space));
	return SP_OK;
}

sp_status
sp_jpeg_probe(const uint8_t *data, size_t len, sp_image_info *info, sp_error *err)
{
	jpeg_ctx	ctx;
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
	st = jpeg_probe_run(&ctx);
	if (ctx.d_created)
		jpeg_destroy_decompress(&ctx.d);
	if (st != SP_OK)
		memset(info, 0, sizeof(*info));
	return st;
}

/* ------------------------------------------------------------------------ */
/* Decode */

static inline uint8_t
mul255(unsigned a, unsigned b)
{
	return (uint8_t) ((a * b + 127) / 255);
}

static void
cmyk_to_rgb(const uint8_t *src, uint8_t *dst, int width, int inverted)
{
	for (int x = 0; x < width; x++, src += 4, dst += 3)
	{
		if (inverted)
		{
			/* Adobe stores 255 - ink, so the stored values are already "light". */
			dst[0] = mul255(src[0], src[3]);
			dst[1] = mul255(src[1], src[3]);
			dst[2] = mul255(src[2], src[3]);
		}
		else
		{
			dst[0] = mul255(255u - src[0], 255u - src[3]);
			dst[1] = mul255(255u - src[1], 255u - src[3]);
			dst[2] = mul255(255u - src[2], 255u - src[3]);
		}
	}
}

__attribute__((noinline))
static sp_status
jpeg_decode_run(jpeg_ctx *ctx)
{
	struct jpeg_decompress_struct *d = &ctx->d;
	sp_status	st;
	int			oc,
				cmyk;
	unsigned	polls = 0;

	if (setjmp(ctx->jmp))
		return jpeg_failure(ctx, 0);

	jpeg_open(ctx);
	cmyk = 0;
	switch (d->jpeg_color_space)
	{
		case JCS_GRAYSCALE:
			d->out_color_space = JCS_GRAYSCALE;
			oc = 1;
			break;
		case JCS_YCbCr:
		case JCS_RGB:
			d->out_color_space = JCS_RGB;
			oc = 3;
			break;
		case JCS_CMYK:
		case JCS_YCCK:
			d->out_color_space = JCS_CMYK;
			oc = 3;
			cmyk = 1;
			break;
		default:
			sp_set_error(ctx->err, SP_ERR_UNSUPPORTED,
						 "unsupported JPEG colour space with %d components",
						 d->num_components);
			sp_error_hint(ctx->err, "Grayscale, YCbCr, RGB, CMYK and YCCK JPEG images are supported.");
			return SP_ERR_UNSUPPORTED;
	}
	/* The limit check comes before jpeg_start_decompress allocates anything. */
	st = sp_image_check_dims(ctx->env, d->image_width, d->image_height, oc, ctx->err);
	if (st != SP_OK)
		return st;

	/* Deterministic, accurate settings (libjpeg's defaults, stated). */
	d->dct_method = JDCT_ISLOW;
	d->do_fancy_upsampling = TRUE;
	d->scale_num = d->scale_denom = 1;

	(void) jpeg_start_decompress(d);
	if (d->output_width != d->image_width || d->output_height != d->image_height ||
		d->output_components != (cmyk ? 4 : oc))
		return sp_set_error(ctx->err, SP_ERR_INTERNAL,
							"unexpected JPEG output layout (%u x %u, %d components)",
							d->output_width, d->output_height, d->output_components);

	st = sp_image_alloc(ctx->env, &ctx->img, (int) d->output_width, (int) d->output_height,
						oc, ctx->err);
	if (st != SP_OK)
		return st;
	if (cmyk)
	{
		ctx->row = sp_alloc_array(ctx->env, d->output_width, 4);
		if (!ctx->row)
			return sp_set_error(ctx->err, SP_ERR_NOMEM, "out of memory decoding a JPEG image");
	}

	while (d->output_scanline < d->output_height)
	{
		size_t		y = d->output_scanline;
		uint8_t    *dst = ctx->img.pixels + y * (size_t) d->output_width * (size_t) oc;
		JSAMPROW	rowp = cmyk ? ctx->row : dst;

		if (polls++ % JPEG_POLL_ROWS == 0 && sp_env_interrupted(ctx->env))
			return sp_set_error(ctx->err, SP_ERR_INTERRUPTED, "JPEG decoding was interrupted");
		if (jpeg_read_scanlines(d, &rowp, 1) != 1)
			return sp_set_error(ctx->err, SP_ERR_CORRUPT, "invalid JPEG image");
		if (cmyk)
			cmyk_to_rgb(ctx->row, dst, (int) d->output_width, d->saw_Adobe_marker);
	}
	(void) jpeg_finish_decompress(d);
	return SP_OK;
}

sp_status
sp_jpeg_decode(const sp_env *env, const uint8_t *data, size_t len,
			   sp_image *out, sp_error *err)
{
	jpeg_ctx	ctx;
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
	st = jpeg_decode_run(&ctx);
	if (ctx.d_created)
		jpeg_destroy_decompress(&ctx.d);
	sp_free(env, ctx.row);
	if (st == SP_OK && ctx.orientation != 1)
		st = sp_image_apply_orientation(env, &ctx.img, ctx.orientation, err);
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

static void
dest_init(j_compress_ptr cinfo)
{
	jpeg_ctx   *ctx = ctx_of((j_common_ptr) cinfo);

	/* A quarter of the raw size is plenty for typical qualities. */
	ctx->out_cap = (size_t) ctx->srcimg->width * ctx->srcimg->height * ctx->srcimg->channels / 4 + 1024;
	ctx->out = sp_alloc(ctx->env, ctx->out_cap);
	if (!ctx->out)
		jpeg_ctx_fail((j_common_ptr) cinfo, SP_ERR_NOMEM, "out of memory");
	ctx->out_len = 0;
	ctx->dest.next_output_byte = ctx->out;
	ctx->dest.free_in_buffer = ctx->out_cap;
}

static boolean
dest_empty(j_compress_ptr cinfo)
{
	jpeg_ctx   *ctx = ctx_of((j_common_ptr) cinfo);
	size_t		cap;
	uint8_t    *grown;

	/* libjpeg only calls this when the whole buffer is full. */
	if (!sp_mul_size(ctx->out_cap, 2, &cap))
		jpeg_ctx_fail((j_common_ptr) cinfo, SP_ERR_LIMIT, "encoded image too large");
	grown = sp_alloc(ctx->env, cap);
	if (!grown)
		jpeg_ctx_fail((j_common_ptr) cinfo, SP_ERR_NOMEM, "out of memory");
	memcpy(grown, ctx->out, ctx->out_cap);
	sp_free(ctx->env, ctx->out);
	ctx->out = grown;
	ctx->dest.next_output_byte = grown + ctx->out_cap;
	ctx->dest.free_in_buffer = cap - ctx->out_cap;
	ctx->out_cap = cap;
	return TRUE;
}

static void
dest_term(j_compress_ptr cinfo)
{
	jpeg_ctx   *ctx = ctx_of((j_common_ptr) cinfo);

	ctx->out_len = ctx->out_cap - ctx->dest.free_in_buffer;
}

__attribute__((noinline))
static sp_status
jpeg_encode_run(jpeg_ctx *ctx)
{
	struct jpeg_compress_struct *c = &ctx->c;
	const sp_image *img = ctx->srcimg;
	size_t		stride = (size_t) img->width * (size_t) img->channels;

	if (setjmp(ctx->jmp))
		return jpeg_failure(ctx, 1);

	install_error_mgr(ctx);
	c->err = &ctx->jerr;
	ctx->c_created = 1;
	jpeg_create_compress(c);
	ctx->dest.init_destination = dest_init;
	ctx->dest.empty_output_buffer = dest_empty;
	ctx->dest.term_destination = dest_term;
	c->dest = &ctx->dest;

	c->image_width = (JDIMENSION) img->width;
	c->image_height = (JDIMENSION) img->height;
	c->input_components = img->channels;
	c->in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
	/* Defaults: JFIF, YCbCr with 2x2 luma sampling (4:2:0), islow DCT. */
	jpeg_set_defaults(c);
	c->dct_method = JDCT_ISLOW;
	jpeg_set_quality(c, ctx->quality, TRUE);
	if (ctx->progressive)
		jpeg_simple_progression(c);
	jpeg_start_compress(c, TRUE);
	while (c->next_scanline < c->image_height)
	{
		/* libjpeg's API is not const-correct; it only reads the row. */
		JSAMPROW	rowp = (JSAMPROW) (uintptr_t) (img->pixels + (size_t) c->next_scanline * stride);

		if (c->next_scanline % JPEG_POLL_ROWS == 0 && sp_env_interrupted(ctx->env))
			return sp_set_error(ctx->err, SP_ERR_INTERRUPTED, "JPEG encoding was interrupted");
		(void) jpeg_write_scanlines(c, &rowp, 1);
	}
	jpeg_finish_compress(c);
	return SP_OK;
}

sp_status
sp_jpeg_encode(const sp_env *env, const sp_image *img, int quality,
			   int progressive, uint8_t **out, size_t *out_len, sp_error *err)
{
	jpeg_ctx	ctx;
	sp_status	st;

	if (!img || !out || !out_len)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "NULL argument to image encoder");
	*out = NULL;
	*out_len = 0;
	if (!img->pixels || img->width <= 0 || img->height <= 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "cannot encode an empty image");
	if (img->channels != 1 && img->channels != 3)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"cannot encode an image with %d channels", img->channels);
	if (img->width > 65500 || img->height > 65500)
		return sp_set_error(err, SP_ERR_LIMIT,
							"image of %dx%d pixels is too large for JPEG",
							img->width, img->height);
	if (quality < 1 || quality > 100)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"JPEG quality must be between 1 and 100, not %d", quality);
	if (!env)
		env = sp_env_default();
	memset(&ctx, 0, sizeof(ctx));
	ctx.env = env;
	ctx.err = err;
	ctx.srcimg = img;
	ctx.quality = quality;
	ctx.progressive = progressive;
	st = jpeg_encode_run(&ctx);
	if (ctx.c_created)
		jpeg_destroy_compress(&ctx.c);
	if (st != SP_OK)
	{
		sp_free(env, ctx.out);
		return st;
	}
	*out = ctx.out;
	*out_len = ctx.out_len;
	return SP_OK;
}
