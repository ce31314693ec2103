/*
 * preprocess.c: image -> model input tensor (channel conversion, fit,
 * bilinear or area resize, normalisation) in one pass; see preprocess.h.
 */
#include "image/preprocess.h"

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
	return m == SP_RESIZE_AREA ? "area" : "bilinear";
}

const char *
sp_fit_mode_name(sp_fit_mode m)
{
	return m == SP_FIT_CENTER_CROP ? "center_crop" : "stretch";
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

sp_status
sp_preprocess_image(const sp_preprocess_spec *spec, const sp_image *img,
					float *out, sp_error *err)
{
	int			C,
				H,
				W;
	double		cx0 = 0,
				cy0 = 0,
				cw,
				ch;
	size_t		plane;

	if (!spec || !img || !out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: NULL argument");
	C = spec->channels;
	H = spec->height;
	W = spec->width;
	if ((C != 1 && C != 3) || H <= 0 || W <= 0 || H > 4096 || W > 4096)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: invalid model input size %dx%dx%d", C, H, W);
	if (!(spec->scale > 0) || !isfinite(spec->scale))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: scale must be positive");
	for (int c = 0; c < C; c++)
		if (!(spec->std[c] > 0) || !isfinite(spec->std[c]) || !isfinite(spec->mean[c]))
			return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: std must be positive and mean finite");
	if ((img->channels != 1 && img->channels != 3) || img->width <= 0 || img->height <= 0 || !img->pixels)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "preprocess: invalid image (%dx%d, %d channels)",
							img->width, img->height, img->channels);

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

	plane = (size_t) H * (size_t) W;
	for (int c = 0; c < C; c++)
	{
		float		inv = 1.0f / spec->scale;
		float		mean = spec->mean[c];
		float		istd = 1.0f / spec->std[c];
		float	   *o = out + (size_t) c * plane;
		double		sx = cw / W,
					sy = ch / H;

		for (int y = 0; y < H; y++)
		{
			for (int x = 0; x < W; x++)
			{
				float		v;

				if (spec->resize == SP_RESIZE_BILINEAR)
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
