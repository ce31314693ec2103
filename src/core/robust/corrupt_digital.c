/*
 * corrupt_digital.c: brightness, saturate (HSV edits), contrast,
 * elastic_transform, pixelate and jpeg_compression.
 */
#include "robust/corrupt_int.h"
#include "image/color.h"
#include "image/filter.h"
#include "image/resample.h"

#include <math.h>
#include <string.h>

/* skimage rgb2hsv, edit channel S or V: clip(ch * mul + add, 0, 1), hsv2rgb. */
static sp_status
hsv_edit(sp_corrupt_ctx *c, sp_image *out, int channel, double mul, double add)
{
	const double *lut = sp_corrupt_u8_unit();
	size_t		n = (size_t) c->w * c->h;
	uint8_t    *rgb;
	sp_status	st = sp_corrupt_out_begin(c, out, &rgb);

	if (st != SP_OK)
		return st;
	for (size_t i = 0; i < n; i++)
	{
		double		hh,
					ss,
					vv,
					r,
					g,
					b,
				   *e;

		sp_rgb_to_hsv(lut[sp_corrupt_in_px(c, i, 0)], lut[sp_corrupt_in_px(c, i, 1)],
					  lut[sp_corrupt_in_px(c, i, 2)], &hh, &ss, &vv);
		e = channel == 1 ? &ss : &vv;
		*e = *e * mul + add;
		*e = *e < 0.0 ? 0.0 : *e > 1.0 ? 1.0 : *e;
		sp_hsv_to_rgb(hh, ss, vv, &r, &g, &b);
		rgb[3 * i] = sp_trunc_u8(r * 255.0);
		rgb[3 * i + 1] = sp_trunc_u8(g * 255.0);
		rgb[3 * i + 2] = sp_trunc_u8(b * 255.0);
	}
	return sp_corrupt_out_end(c, out, rgb, st);
}

sp_status
sp_corrupt_brightness(sp_corrupt_ctx *c, sp_image *out)
{
	return hsv_edit(c, out, 2, 1.0, c->p[0]);
}

sp_status
sp_corrupt_saturate(sp_corrupt_ctx *c, sp_image *out)
{
	return hsv_edit(c, out, 1, c->p[0], c->p[1]);
}

/* (x - mean_c) * c + mean_c with the mean of each channel over the image. */
sp_status
sp_corrupt_contrast(sp_corrupt_ctx *c, sp_image *out)
{
	const double *lut = sp_corrupt_u8_unit();
	size_t		n = (size_t) c->w * c->h;
	double		cc = c->p[0];
	uint8_t    *rgb;
	sp_status	st = sp_corrupt_out_begin(c, out, &rgb);

	if (st != SP_OK)
		return st;
	for (int k = 0; k < 3; k++)
	{
		double		sum = 0.0,
					mean;

		for (size_t i = 0; i < n; i++)
			sum += lut[sp_corrupt_in_px(c, i, k)];
		mean = sum / (double) n;
		for (size_t i = 0; i < n; i++)
			rgb[3 * i + k] = sp_trunc_u8(((lut[sp_corrupt_in_px(c, i, k)] - mean) * cc + mean) * 255.0);
	}
	return sp_corrupt_out_end(c, out, rgb, st);
}

/*
 * PIL resize(BOX) to int(W*c) x int(H*c), then BOX back up (== NEAREST).
 * The reference hard-codes the profile size (224*c, 32*c, 64*c); we use each
 * side of the actual image, which is the same at the nominal size.
 */
sp_status
sp_corrupt_pixelate(sp_corrupt_ctx *c, sp_image *out)
{
	double		cc = c->p[0];
	int			ch = c->in->channels;
	int			dw = (int) ((double) c->w * cc),
				dh = (int) ((double) c->h * cc);
	uint8_t    *small;
	sp_status	st;

	dw = dw < 1 ? 1 : dw;
	dh = dh < 1 ? 1 : dh;
	small = sp_alloc_array(c->env, (size_t) dw * (size_t) dh, (size_t) ch);
	if (!small)
		return sp_set_error(c->err, SP_ERR_NOMEM, "out of memory");
	/* BOX is per channel, so a gray image gives the luma of equal channels */
	st = sp_box_resize_u8(c->env, c->in->pixels, c->w, c->h, ch, small, dw, dh, c->err);
	if (st == SP_OK)
		st = sp_image_alloc(c->env, out, c->w, c->h, ch, c->err);
	if (st == SP_OK)
		st = sp_box_resize_u8(c->env, small, dw, dh, ch, out->pixels, c->w, c->h, c->err);
	sp_free(c->env, small);
	return st;
}

/* PIL save(JPEG, quality) with 4:2:0 then decode; gray goes through RGB. */
sp_status
sp_corrupt_jpeg_compression(sp_corrupt_ctx *c, sp_image *out)
{
	sp_image	rgb = {0},
				dec = {0};
	uint8_t    *buf = NULL;
	size_t		len = 0;
	sp_status	st;

	rgb.pixels = sp_image_to_rgb8(c->env, c->in, c->err);
	if (!rgb.pixels)
		return SP_ERR_NOMEM;
	rgb.width = c->w;
	rgb.height = c->h;
	rgb.channels = 3;
	st = sp_jpeg_encode(c->env, &rgb, (int) c->p[0], 0, &buf, &len, c->err);
	sp_free(c->env, rgb.pixels);
	if (st != SP_OK)
		return st;
	st = sp_image_decode(c->env, buf, len, &dec, c->err);
	sp_free(c->env, buf);
	if (st != SP_OK)
		return st;
	if (dec.width != c->w || dec.height != c->h)
	{
		sp_image_free(c->env, &dec);
		return sp_set_error(c->err, SP_ERR_INTERNAL, "JPEG round trip changed the image size");
	}
	if (dec.channels == c->out_channels)
	{
		*out = dec;
		return SP_OK;
	}
	if (dec.channels == 3)
		st = sp_rgb8_to_image(c->env, dec.pixels, dec.width, dec.height, c->out_channels, out, c->err);
	else
	{
		/* a gray decode for an RGB request: replicate */
		st = sp_image_alloc(c->env, out, c->w, c->h, 3, c->err);
		if (st == SP_OK)
			for (size_t i = 0; i < (size_t) c->w * c->h; i++)
				out->pixels[3 * i] = out->pixels[3 * i + 1] = out->pixels[3 * i + 2] = dec.pixels[i];
	}
	sp_image_free(c->env, &dec);
	return st;
}

/* ---- elastic_transform -------------------------------------------------- */

/* cv2.getAffineTransform: M (2x3) with M*[x y 1]^T = dst for 3 points. */
static int
affine_from_points(const double src[3][2], const double dst[3][2], double M[6])
{
	double		a = src[0][0], b = src[0][1],
				d = src[1][0], e = src[1][1],
				g = src[2][0], h = src[2][1];
	/* inverse of [[a b 1][d e 1][g h 1]] by cofactors */
	double		det = a * (e - h) - b * (d - g) + (d * h - e * g);
	double		inv[3][3];

	if (fabs(det) < 1e-12)
		return 0;
	inv[0][0] = (e - h) / det;
	inv[0][1] = (h - b) / det;
	inv[0][2] = (b - e) / det;
	inv[1][0] = (g - d) / det;
	inv[1][1] = (a - g) / det;
	inv[1][2] = (d - a) / det;
	inv[2][0] = (d * h - e * g) / det;
	inv[2][1] = (b * g - a * h) / det;
	inv[2][2] = (a * e - b * d) / det;
	for (int r = 0; r < 2; r++)
		for (int k = 0; k < 3; k++)
			M[r * 3 + k] = inv[k][0] * dst[0][r] + inv[k][1] * dst[1][r] + inv[k][2] * dst[2][r];
	return 1;
}

/*
 * cv2.warpAffine(bilinear, BORDER_REFLECT_101) of input channel k: dst(x,y)
 * = src(Minv (x,y)) with OpenCV's fixed-point coordinates: per-column
 * offsets round(A0 x 1024), per-row round((A1 y + A2) 1024), summed, then
 * 5 fractional bits (1/32 pixel) for the bilinear weights.
 */
static void
warp_affine_channel(sp_corrupt_ctx *c, int k, double *dst, const double A[6], const long *adelta,
					const long *bdelta)
{
	const double *lut = sp_corrupt_u8_unit();
	int			w = c->w,
				h = c->h;

	for (int y = 0; y < h; y++)
	{
		long		X0 = lrint((A[1] * y + A[2]) * 1024.0) + 16;
		long		Y0 = lrint((A[4] * y + A[5]) * 1024.0) + 16;

		for (int x = 0; x < w; x++)
		{
			long		X = (X0 + adelta[x]) >> 5;
			long		Y = (Y0 + bdelta[x]) >> 5;
			long		ix = X >> 5,
						iy = Y >> 5;
			double		fx = (double) (X & 31) / 32.0,
						fy = (double) (Y & 31) / 32.0;
			long		x0,
						x1,
						y0,
						y1;

			if (ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h)
				x0 = ix, x1 = ix + 1, y0 = iy, y1 = iy + 1;
			else
			{
				x0 = sp_border_index(ix, w, SP_BORDER_REFLECT101);
				x1 = sp_border_index(ix + 1, w, SP_BORDER_REFLECT101);
				y0 = sp_border_index(iy, h, SP_BORDER_REFLECT101);
				y1 = sp_border_index(iy + 1, h, SP_BORDER_REFLECT101);
			}
			dst[(size_t) y * w + x] =
				(1.0 - fy) * ((1.0 - fx) * lut[sp_corrupt_in_px(c, (size_t) y0 * w + x0, k)] +
							  fx * lut[sp_corrupt_in_px(c, (size_t) y0 * w + x1, k)]) +
				fy * ((1.0 - fx) * lut[sp_corrupt_in_px(c, (size_t) y1 * w + x0, k)] +
					  fx * lut[sp_corrupt_in_px(c, (size_t) y1 * w + x1, k)]);
		}
	}
}

/*
 * gaussian(U(-1,1) field, sigma, mode reflect, truncate 3), in place.  Exact
 * (separable, kernel folded onto the reflection period) except for large
 * images (longer side > 512) with sigma >= 16, where the exact filter costs
 * O(n) per sample: there the field is averaged over s x s blocks (s =
 * sigma/8), filtered with sigma/s and bilinearly upsampled.  Block means
 * have variance 1/(3 s^2), so the result keeps the exact field's variance
 * 1/(12 pi sigma^2) and its correlation length.
 */
static sp_status
smooth_field(const sp_env *env, double *f, int w, int h, double sigma, sp_error *err)
{
	int			s,
				lw,
				lh;
	double	   *low;
	sp_status	st;

	if (!(sigma >= 16.0 && (w > 512 || h > 512)))
		return sp_gaussian_filter(env, f, w, h, sigma, 3.0, SP_BORDER_REFLECT, err);
	s = (int) (sigma / 8.0);
	lw = (w + s - 1) / s;
	lh = (h + s - 1) / s;
	low = sp_dalloc(env, (size_t) lw * lh, err);
	if (!low)
		return SP_ERR_NOMEM;
	for (int by = 0; by < lh; by++)
		for (int bx = 0; bx < lw; bx++)
		{
			double		sum = 0.0;
			int			cnt = 0;

			for (int y = by * s; y < by * s + s && y < h; y++)
				for (int x = bx * s; x < bx * s + s && x < w; x++, cnt++)
					sum += f[(size_t) y * w + x];
			low[(size_t) by * lw + bx] = sum / cnt;
		}
	st = sp_gaussian_filter(env, low, lw, lh, sigma / s, 3.0, SP_BORDER_REFLECT, err);
	if (st == SP_OK)
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				f[(size_t) y * w + x] = sp_bilinear(low, lw, lh, (x + 0.5) / s - 0.5,
													(y + 0.5) / s - 0.5, SP_BORDER_REFLECT);
	sp_free(env, low);
	return st;
}

/*
 * The reference's constants are k * 244 (ImageNet, for 224 px), k * 32
 * (CIFAR) and k * 64 (Tiny); for another size they scale with the shorter
 * side relative to the nominal size.  The affine triangle is centre +-
 * min(H,W)//3 on each axis (the reference's points for a square image).
 */
sp_status
sp_corrupt_elastic_transform(sp_corrupt_ctx *c, sp_image *out)
{
	const sp_env *env = c->env;
	int			w = c->w,
				h = c->h,
				S = w < h ? w : h;
	double		base = c->profile == SP_PROFILE_IMAGENET ? 244.0 : (double) sp_corrupt_nominal_size(c->profile);
	double		scale = (double) S / (double) sp_corrupt_nominal_size(c->profile);
	double		alpha = base * c->p[0],
				sigma = base * c->p[1],
				amax = base * c->p[2];
	double		pts1[3][2],
				pts2[3][2],
				M[6],
				A[6] = {0},
				D;
	int			cx = w / 2,
				cy = h / 2,
				sq = S / 3;
	long	   *delta = NULL;
	double	   *warped = NULL,
			   *dx = NULL,
			   *dy = NULL;
	uint8_t    *rgb = NULL;
	int			have_affine;
	size_t		n = (size_t) w * h;
	sp_status	st;

	if (scale != 1.0)
	{
		alpha *= scale;
		sigma *= scale;
		amax *= scale;
	}
	pts1[0][0] = cx + sq, pts1[0][1] = cy + sq;
	pts1[1][0] = cx + sq, pts1[1][1] = cy - sq;
	pts1[2][0] = cx - sq, pts1[2][1] = cy - sq;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			pts2[i][j] = (double) (float) (pts1[i][j] +
										   (double) (float) sp_rng_uniform_range(&c->rng, -amax, amax));
	/* the random affine (tiny images may give a degenerate triangle: skip) */
	have_affine = sq > 0 && affine_from_points(pts1, pts2, M);
	if (have_affine)
	{
		D = M[0] * M[4] - M[1] * M[3];
		D = D != 0.0 ? 1.0 / D : 0.0;
		A[0] = M[4] * D;
		A[1] = -M[1] * D;
		A[3] = -M[3] * D;
		A[4] = M[0] * D;
		A[2] = -A[0] * M[2] - A[1] * M[5];
		A[5] = -A[3] * M[2] - A[4] * M[5];
	}

	warped = sp_dalloc(env, n, c->err);
	dx = sp_dalloc(env, n, c->err);
	dy = sp_dalloc(env, n, c->err);
	delta = sp_alloc_array(env, (size_t) w, 2 * sizeof(long));
	if (!warped || !dx || !dy || !delta)
	{
		st = sp_set_error(c->err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int x = 0; x < w; x++)
	{
		delta[x] = lrint(A[0] * x * 1024.0);
		delta[w + x] = lrint(A[3] * x * 1024.0);
	}

	/* displacement fields: gaussian(U(-1,1), sigma, reflect, truncate 3) * alpha */
	for (size_t i = 0; i < n; i++)
		dx[i] = sp_rng_uniform_range(&c->rng, -1.0, 1.0);
	for (size_t i = 0; i < n; i++)
		dy[i] = sp_rng_uniform_range(&c->rng, -1.0, 1.0);
	st = smooth_field(env, dx, w, h, sigma, c->err);
	if (st == SP_OK)
		st = smooth_field(env, dy, w, h, sigma, c->err);
	if (st != SP_OK)
		goto done;
	for (size_t i = 0; i < n; i++)
	{
		dx[i] = (double) (float) (dx[i] * alpha);
		dy[i] = (double) (float) (dy[i] * alpha);
	}

	st = sp_corrupt_out_begin(c, out, &rgb);
	if (st != SP_OK)
		goto done;
	for (int k = 0; k < 3 && st == SP_OK; k++)
	{
		const double *g = warped;

		if (sp_env_interrupted(env))
		{
			st = sp_set_error(c->err, SP_ERR_INTERRUPTED, "corruption interrupted");
			break;
		}
		if (have_affine)
			warp_affine_channel(c, k, warped, A, delta, delta + w);
		else
			sp_corrupt_get_plane(c, k, warped);
		/* map_coordinates(order=1, mode='reflect') at (y + dy, x + dx) */
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
			{
				size_t		i = (size_t) y * w + x;

				rgb[3 * i + k] = sp_trunc_u8(sp_bilinear(g, w, h, x + dx[i], y + dy[i],
														 SP_BORDER_REFLECT) * 255.0);
			}
	}
	st = sp_corrupt_out_end(c, out, rgb, st);
done:
	if (delta)
		sp_free(env, delta);
	if (warped)
		sp_free(env, warped);
	if (dx)
		sp_free(env, dx);
	if (dy)
		sp_free(env, dy);
	return st;
}
