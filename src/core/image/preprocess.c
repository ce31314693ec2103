/*
 * preprocess.c: image -> model input tensor (channel conversion, fit,
 * resize, normalisation); see preprocess.h.  "bilinear" and "area" run in
 * one pass; "pil_bilinear" goes through Pillow's two-pass resampler
 * (resample.c) on a uint8 window, then normalises.
 */
#include "image/preprocess.h"
#include "image/resample.h"

#include <math.h>
#include <string.h>

void
sp_preprocess_spec_default(sp_preprocess_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->channels = 1;
	spec->height = 28;
	spec->width = 28;
	spec->resize = SP_RESIZE_BILINEAR;
	spec->fit = SP_FIT_STRETCH;
	for (int c = 0; c < 3; c++)
	{
		spec->mean[c] = 0.0f;
		spec->std[c] = 1.0f;
	}
	spec->scale = 255.0f;
}

const char *
sp_resize_method_name(sp_resize_method m)
{
	switch (m)
	{
		case SP_RESIZE_AREA:
			return "area";
		case SP_RESIZE_PIL_BILINEAR:
			return "pil_bilinear";
		case SP_RESIZE_BILINEAR:
			break;
	}
	return "bilinear";
}

const char *
sp_fit_mode_name(sp_fit_mode m)
{
	switch (m)
	{
		case SP_FIT_CENTER_CROP:
			return "center_crop";
		case SP_FIT_SHORTER_CENTER_CROP:
			return "resize_shorter_then_center_crop";
		case SP_FIT_STRETCH:
			break;
	}
	return "stretch";
}

int
sp_resize_method_parse(const char *name, sp_resize_method *out)
{
	static const sp_resize_method all[] = {SP_RESIZE_BILINEAR, SP_RESIZE_AREA, SP_RESIZE_PIL_BILINEAR};

	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(name, sp_resize_method_name(all[i])) == 0)
		{
			*out = all[i];
			return 1;
		}
	return 0;
}

int
sp_fit_mode_parse(const char *name, sp_fit_mode *out)
{
	static const sp_fit_mode all[] = {SP_FIT_STRETCH, SP_FIT_CENTER_CROP, SP_FIT_SHORTER_CENTER_CROP};

	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(name, sp_fit_mode_name(all[i])) == 0)
		{
			*out = all[i];
			return 1;
		}
	return 0;
}

sp_status
sp_preprocess_spec_check(const sp_preprocess_spec *spec, sp_error *err)
{
	int			C = spec->channels,
				H = spec->height,
				W = spec->width;

	if ((C != 1 && C != 3) || H <= 0 || W <= 0 || H > SP_PREPROCESS_MAX_SIDE || W > SP_PREPROCESS_MAX_SIDE)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: invalid model input size %dx%dx%d", C, H, W);
	if (!(spec->scale > 0) || !isfinite(spec->scale))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: scale must be positive");
	for (int c = 0; c < C; c++)
		if (!(spec->std[c] > 0) || !isfinite(spec->std[c]) || !isfinite(spec->mean[c]))
			return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: std must be positive and mean finite");
	if (spec->resize != SP_RESIZE_BILINEAR && spec->resize != SP_RESIZE_AREA &&
		spec->resize != SP_RESIZE_PIL_BILINEAR)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: unknown resize method %d", (int) spec->resize);
	if (spec->fit != SP_FIT_STRETCH && spec->fit != SP_FIT_CENTER_CROP &&
		spec->fit != SP_FIT_SHORTER_CENTER_CROP)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: unknown fit mode %d", (int) spec->fit);
	if (spec->fit == SP_FIT_SHORTER_CENTER_CROP)
	{
		if (spec->resize_shorter < 1 || spec->resize_shorter > SP_PREPROCESS_MAX_SIDE)
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"preprocess: resize_shorter must be between 1 and %d with fit \"%s\"",
								SP_PREPROCESS_MAX_SIDE, sp_fit_mode_name(spec->fit));
	}
	else if (spec->resize_shorter != 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"preprocess: resize_shorter is only used with fit \"%s\"",
							sp_fit_mode_name(SP_FIT_SHORTER_CENTER_CROP));
	return SP_OK;
}

/* Python's round() of d / 2.0 for d >= 0: halves go to the even neighbour. */
static int
half_round_even(int d)
{
	int			q = d / 2;

	return (d % 2 != 0 && q % 2 != 0) ? q + 1 : q;
}

/* One axis of torchvision's CenterCrop: offset of the crop in a size-n image. */
static int
crop_offset(int n, int target)
{
	if (target > n)
		return -((target - n) / 2);		/* padded by (target - n) // 2 before */
	return half_round_even(n - target);
}

void
sp_preprocess_shorter_geometry(int iw, int ih, int shorter, int tw, int th,
							   int *rw, int *rh, int *ox, int *oy)
{
	/* int(shorter * long / short): an exact product, one correctly rounded division, truncation */
	if (iw <= ih)
	{
		*rw = shorter;
		*rh = (int) ((double) shorter * (double) ih / (double) iw);
	}
	else
	{
		*rh = shorter;
		*rw = (int) ((double) shorter * (double) iw / (double) ih);
	}
	*ox = crop_offset(*rw, tw);
	*oy = crop_offset(*rh, th);
}

/* Source sample (x, y) for output channel c, in 0..255 (float). */
static inline float
fetch(const sp_image *img, int x, int y, int c, int out_channels)
{
	const uint8_t *p = img->pixels + ((size_t) y * (size_t) img->width + (size_t) x) * (size_t) img->channels;

	if (img->channels == 1)
		return (float) p[0];
	if (out_channels == 1)
		return 0.299f * (float) p[0] + 0.587f * (float) p[1] + 0.114f * (float) p[2];
	return (float) p[c];
}

/*
 * "pil_bilinear": the uint8 window of PIL's resize (channels converted as PIL
 * would first), then torchvision's float32 arithmetic.
 */
static sp_status
preprocess_pil(const sp_env *env, const sp_preprocess_spec *spec, const sp_image *img,
			   float *out, sp_error *err)
{
	int			C = spec->channels,
				H = spec->height,
				W = spec->width;
	int			cs = img->channels;
	const uint8_t *src = img->pixels;
	uint8_t    *gray = NULL,
			   *win = NULL;
	sp_pil_resize rs;
	size_t		plane = (size_t) H * (size_t) W;
	sp_status	st;

	if (C == 1 && cs == 3)
	{
		/* PIL's convert("L"): ITU-R 601-2 luma in 16-bit fixed point */
		size_t		n = (size_t) img->width * (size_t) img->height;

		gray = sp_alloc(env, n);
		if (!gray)
			return sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < n; i++)
		{
			const uint8_t *p = img->pixels + 3 * i;

			gray[i] = (uint8_t) ((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
		}
		src = gray;
		cs = 1;
	}

	memset(&rs, 0, sizeof(rs));
	rs.filter = SP_PIL_BILINEAR;
	rs.out_w = W;
	rs.out_h = H;
	if (spec->fit == SP_FIT_SHORTER_CENTER_CROP)
		sp_preprocess_shorter_geometry(img->width, img->height, spec->resize_shorter, W, H,
									   &rs.out_w, &rs.out_h, &rs.win_x, &rs.win_y);
	else if (spec->fit == SP_FIT_CENTER_CROP)
	{
		/* Image.resize(size, BILINEAR, box): PIL takes the box as floats */
		double		cw = img->width,
					ch = img->height,
					cx0 = 0,
					cy0 = 0;

		if ((double) img->width * H > (double) img->height * W)
		{
			cw = (double) img->height * W / H;
			cx0 = (img->width - cw) / 2.0;
		}
		else
		{
			ch = (double) img->width * H / W;
			cy0 = (img->height - ch) / 2.0;
		}
		rs.box[0] = (float) cx0;
		rs.box[1] = (float) cy0;
		rs.box[2] = (float) (cx0 + cw);
		rs.box[3] = (float) (cy0 + ch);
		/* a float box may round past the edge: clamp it */
		if (rs.box[2] > (float) img->width)
			rs.box[2] = (float) img->width;
		if (rs.box[3] > (float) img->height)
			rs.box[3] = (float) img->height;
	}

	win = sp_alloc_array(env, plane, (size_t) cs);
	if (!win)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	st = sp_pil_resize_u8(env, src, img->width, img->height, cs, &rs, win, W, H, err);
	if (st != SP_OK)
		goto done;
	for (int c = 0; c < C; c++)
	{
		const uint8_t *p = win + (cs == 1 ? 0 : c);
		float	   *o = out + (size_t) c * plane;
		float		lut[256];

		/*
		 * ToTensor: v / 255; Normalize: (x - mean) / std; each rounded to
		 * float32.  Only 256 inputs, so a table holds every result.
		 */
		for (int v = 0; v < 256; v++)
		{
			float		x = (float) v / spec->scale;

			lut[v] = (x - spec->mean[c]) / spec->std[c];
		}
		if (cs == 1)
			for (size_t i = 0; i < plane; i++)
				o[i] = lut[p[i]];
		else
			for (size_t i = 0; i < plane; i++)
				o[i] = lut[p[i * 3]];
	}
done:
	sp_free(env, gray);
	sp_free(env, win);
	return st;
}

sp_status
sp_preprocess_image(const sp_preprocess_spec *spec, const sp_image *img,
					float *out, sp_error *err)
{
	return sp_preprocess_image_env(NULL, spec, img, out, err);
}

sp_status
sp_preprocess_image_env(const sp_env *env, const sp_preprocess_spec *spec, const sp_image *img,
						float *out, sp_error *err)
{
	int			C,
				H,
				W;
	double		cx0 = 0,
				cy0 = 0,
				cw,
				ch,
				sx,
				sy;
	size_t		plane;
	int			pad = 0,
				rsw = 0,
				rsh = 0,
				ox = 0,
				oy = 0;
	sp_status	st;

	if (!spec || !img || !out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: NULL argument");
	if ((st = sp_preprocess_spec_check(spec, err)) != SP_OK)
		return st;
	C = spec->channels;
	H = spec->height;
	W = spec->width;
	if ((img->channels != 1 && img->channels != 3) || img->width <= 0 || img->height <= 0 || !img->pixels)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: invalid image (%dx%d, %d channels)",
							img->width, img->height, img->channels);
	if (spec->resize == SP_RESIZE_PIL_BILINEAR)
		return preprocess_pil(env ? env : sp_env_default(), spec, img, out, err);

	cw = img->width;
	ch = img->height;
	if (spec->fit == SP_FIT_CENTER_CROP)
	{
		/* largest centred region with the target aspect ratio */
		if ((double) img->width * H > (double) img->height * W)
		{
			cw = (double) img->height * W / H;
			cx0 = (img->width - cw) / 2.0;
		}
		else
		{
			ch = (double) img->width * H / W;
			cy0 = (img->height - ch) / 2.0;
		}
	}
	sx = cw / W;
	sy = ch / H;
	if (spec->fit == SP_FIT_SHORTER_CENTER_CROP)
	{
		/* the crop of the (virtual) resized image, in source pixels */
		sp_preprocess_shorter_geometry(img->width, img->height, spec->resize_shorter, W, H,
									   &rsw, &rsh, &ox, &oy);
		sx = (double) img->width / rsw;
		sy = (double) img->height / rsh;
		cx0 = ox * sx;
		cy0 = oy * sy;
		pad = ox < 0 || oy < 0 || ox + W > rsw || oy + H > rsh;
	}

	plane = (size_t) H * (size_t) W;
	for (int c = 0; c < C; c++)
	{
		float		inv = 1.0f / spec->scale;
		float		mean = spec->mean[c];
		float		istd = 1.0f / spec->std[c];
		float	   *o = out + (size_t) c * plane;

		for (int y = 0; y < H; y++)
		{
			for (int x = 0; x < W; x++)
			{
				float		v;

				if (pad && (x + ox < 0 || x + ox >= rsw || y + oy < 0 || y + oy >= rsh))
					v = 0.0f;	/* CenterCrop's zero padding */
				else if (spec->resize == SP_RESIZE_BILINEAR)
				{
					double		u = cx0 + (x + 0.5) * sx - 0.5;
					double		w = cy0 + (y + 0.5) * sy - 0.5;
					int			x0,
								y0,
								x1,
								y1;
					float		fx,
								fy,
								top,
								bot;

					if (u < 0)
						u = 0;
					if (w < 0)
						w = 0;
					if (u > img->width - 1)
						u = img->width - 1;
					if (w > img->height - 1)
						w = img->height - 1;
					x0 = (int) u;
					y0 = (int) w;
					fx = (float) (u - x0);
					fy = (float) (w - y0);
					x1 = x0 + 1 < img->width ? x0 + 1 : x0;
					y1 = y0 + 1 < img->height ? y0 + 1 : y0;
					top = fetch(img, x0, y0, c, C) * (1 - fx) + fetch(img, x1, y0, c, C) * fx;
					bot = fetch(img, x0, y1, c, C) * (1 - fx) + fetch(img, x1, y1, c, C) * fx;
					v = top * (1 - fy) + bot * fy;
				}
				else
				{
					/* exact box average of [a0,a1) x [b0,b1) in source pixels */
					double		a0 = cx0 + x * sx,
								a1 = cx0 + (x + 1) * sx;
					double		b0 = cy0 + y * sy,
								b1 = cy0 + (y + 1) * sy;
					int			i0 = (int) floor(a0),
								i1 = (int) ceil(a1),
								j0 = (int) floor(b0),
								j1 = (int) ceil(b1);
					double		acc = 0,
								wsum = 0;

					if (i0 < 0)
						i0 = 0;
					if (j0 < 0)
						j0 = 0;
					if (i1 > img->width)
						i1 = img->width;
					if (j1 > img->height)
						j1 = img->height;
					for (int j = j0; j < j1; j++)
					{
						double		wy = fmin(b1, j + 1.0) - fmax(b0, (double) j);
						double		row = 0,
									rw = 0;

						if (wy <= 0)
							continue;
						for (int i = i0; i < i1; i++)
						{
							double		wx = fmin(a1, i + 1.0) - fmax(a0, (double) i);

							if (wx <= 0)
								continue;
							row += wx * fetch(img, i, j, c, C);
							rw += wx;
						}
						acc += wy * row;
						wsum += wy * rw;
					}
					v = wsum > 0 ? (float) (acc / wsum) : fetch(img, i0 < img->width ? i0 : img->width - 1,
																 j0 < img->height ? j0 : img->height - 1, c, C);
				}
				o[(size_t) y * W + x] = (v * inv - mean) * istd;
			}
		}
	}
	return SP_OK;
}
