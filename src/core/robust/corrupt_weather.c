/*
 * corrupt_weather.c: snow, frost (procedural ice texture), fog and spatter
 * (water and mud, with the native OpenCV pieces it needs: Canny, the 5x5
 * chamfer L2 distance transform, equalizeHist, box blur, filter2D).
 */
#include "robust/corrupt_int.h"
#include "image/filter.h"
#include "image/resample.h"
#include "robust/plasma.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define INTERRUPTED(c) sp_set_error((c)->err, SP_ERR_INTERRUPTED, "corruption interrupted")

/* ---- snow ---------------------------------------------------------------- */

/*
 * The reference's snow layer: N(mean, std) of H x W -> clipped_zoom(zoom) ->
 * values < thr set to 0 -> clip to [0, 1] -> uint8 (truncated), the 'L' PNG
 * it hands to ImageMagick.  Consumes H*W normals from c->rng.
 */
sp_status
sp_snow_layer_u8(sp_corrupt_ctx *c, double mean, double std, double zoom, double thr,
				 uint8_t *u8)
{
	size_t		n = (size_t) c->w * c->h;
	double	   *layer = sp_dalloc(c->env, n, c->err),
			   *zoomed = sp_dalloc(c->env, n, c->err);
	sp_status	st = SP_OK;

	if (!layer || !zoomed)
	{
		st = sp_set_error(c->err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		layer[i] = mean + std * sp_rng_normal(&c->rng);
	st = sp_clipped_zoom(c->env, layer, zoomed, c->w, c->h, zoom, 0, c->err);
	if (st != SP_OK)
		goto done;
	for (size_t i = 0; i < n; i++)
	{
		double		v = zoomed[i] < thr ? 0.0 : zoomed[i];

		v = v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
		u8[i] = (uint8_t) (v * 255.0);
	}
done:
	if (layer)
		sp_free(c->env, layer);
	if (zoomed)
		sp_free(c->env, zoomed);
	return st;
}

/*
 * blend * x + (1 - blend) * max(x, gray * 1.5 + 0.5) + L + rot180(L), with L
 * the motion-blurred layer / 255, into the interleaved RGB buffer rgb.
 */
void
sp_snow_composite(sp_corrupt_ctx *c, const uint8_t *blur, double blend, uint8_t *rgb)
{
	const double *lut = sp_corrupt_u8_unit();
	int			w = c->w,
				h = c->h;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
		{
			size_t		i = (size_t) y * w + x;
			size_t		j = (size_t) (h - 1 - y) * w + (w - 1 - x);	/* rot90 k=2 */
			double		px[3],
						gray,
						lift,
						sn = blur[i] / 255.0 + blur[j] / 255.0;

			for (int k = 0; k < 3; k++)
				px[k] = lut[sp_corrupt_in_px(c, i, k)];
			gray = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];	/* cv2 RGB2GRAY */
			lift = gray * 1.5 + 0.5;
			for (int k = 0; k < 3; k++)
				rgb[3 * i + k] = sp_trunc_u8((blend * px[k] + (1.0 - blend) * (px[k] > lift ? px[k] : lift) +
											  sn) * 255.0);
		}
}

sp_status
sp_corrupt_snow(sp_corrupt_ctx *c, sp_image *out)
{
	const double *p = c->p;
	int			w = c->w,
				h = c->h;
	size_t		n = (size_t) w * h;
	uint8_t    *u8 = NULL,
			   *blur = NULL,
			   *rgb = NULL;
	double		angle;
	sp_status	st;

	u8 = sp_alloc(c->env, n);
	blur = sp_alloc(c->env, n);
	if (!u8 || !blur)
	{
		st = sp_set_error(c->err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	st = sp_snow_layer_u8(c, p[0], p[1], p[2], p[3], u8);
	if (st != SP_OK)
		goto done;
	angle = sp_rng_uniform_range(&c->rng, -135.0, -45.0);
	st = sp_motion_blur_u8(c->env, u8, blur, w, h, 1, (int) p[4], p[5], angle, c->err);
	if (st != SP_OK)
		goto done;
	st = sp_corrupt_out_begin(c, out, &rgb);
	if (st != SP_OK)
		goto done;
	sp_snow_composite(c, blur, p[6], rgb);
	st = sp_corrupt_out_end(c, out, rgb, st);
done:
	if (u8)
		sp_free(c->env, u8);
	if (blur)
		sp_free(c->env, blur);
	return st;
}

/* ---- fog ----------------------------------------------------------------- */

/*
 * x + t * plasma, rescaled by max(x) / (max(x) + t).  The map is the
 * smallest power of two covering each side (256 x 256 for 224 px, 32 for
 * CIFAR, 64 for Tiny, 512 for 299: the reference's sizes), cropped to H x W;
 * a non-square image gets a rectangular torus, so an elongated image never
 * allocates a map much larger than itself.
 */
sp_status
sp_corrupt_fog(sp_corrupt_ctx *c, sp_image *out)
{
	const double *lut = sp_corrupt_u8_unit();
	double		t = c->p[0];
	int			w = c->w,
				h = c->h;
	int			mw = sp_next_pow2(w < 2 ? 2 : w),
				mh = sp_next_pow2(h < 2 ? 2 : h);
	size_t		n = (size_t) w * h * c->in->channels;
	double	   *map = NULL,
				maxv;
	int			maxpx = 0;
	uint8_t    *rgb = NULL;
	sp_status	st;

	map = sp_dalloc(c->env, (size_t) mw * mh, c->err);
	if (!map)
		return SP_ERR_NOMEM;
	st = sp_plasma_fractal(c->env, &c->rng, mw, mh, c->p[1], map, c->err);
	if (st != SP_OK)
		goto done;
	for (size_t i = 0; i < n; i++)
		maxpx = c->in->pixels[i] > maxpx ? c->in->pixels[i] : maxpx;
	maxv = lut[maxpx];
	st = sp_corrupt_out_begin(c, out, &rgb);
	if (st != SP_OK)
		goto done;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
		{
			size_t		i = (size_t) y * w + x;
			double		f = t * map[(size_t) y * mw + x];

			for (int k = 0; k < 3; k++)
				rgb[3 * i + k] = sp_trunc_u8((lut[sp_corrupt_in_px(c, i, k)] + f) * maxv / (maxv + t) * 255.0);
		}
	st = sp_corrupt_out_end(c, out, rgb, st);
done:
	sp_free(c->env, map);
	return st;
}

/* ---- frost --------------------------------------------------------------- */

/* Add intensity v at (x, y) with bilinear weights. */
static inline void
splat(double *pl, int w, int h, double x, double y, double v)
{
	int			x0 = (int) floor(x),
				y0 = (int) floor(y);
	double		fx = x - x0,
				fy = y - y0;

	if (x0 < -1 || y0 < -1 || x0 >= w || y0 >= h)
		return;
	if (y0 >= 0)
	{
		if (x0 >= 0)
			pl[(size_t) y0 * w + x0] += v * (1 - fx) * (1 - fy);
		if (x0 + 1 < w)
			pl[(size_t) y0 * w + x0 + 1] += v * fx * (1 - fy);
	}
	if (y0 + 1 < h)
	{
		if (x0 >= 0)
			pl[(size_t) (y0 + 1) * w + x0] += v * (1 - fx) * fy;
		if (x0 + 1 < w)
			pl[(size_t) (y0 + 1) * w + x0 + 1] += v * fx * fy;
	}
}

/*
 * One dendritic arm: a straight segment from (x, y) in direction a, with
 * side branches at +-60 degrees (ice's hexagonal habit) that recurse with a
 * shorter length, up to depth 2.
 */
static void
draw_arm(double *pl, int w, int h, sp_rng *rng, double x, double y, double a, double len,
		 double v, double scale, int depth)
{
	double		step = 0.5;
	double		ca = cos(a),
				sa = sin(a);
	double		gap = (3.0 + 3.0 * sp_rng_uniform(rng)) * scale;
	double		next = gap;

	for (double s = 0.0; s < len; s += step)
	{
		double		px = x + s * ca,
					py = y + s * sa;

		splat(pl, w, h, px, py, v * (1.0 - 0.5 * s / len));
		if (depth < 2 && s >= next)
		{
			double		rem = (len - s) * (0.35 + 0.25 * sp_rng_uniform(rng));
			double		side = sp_rng_uniform(rng) < 0.5 ? 1.0 : -1.0;

			next += gap;
			if (rem > 1.5)
				draw_arm(pl, w, h, rng, px, py, a + side * M_PI / 3.0, rem, v * 0.8, scale,
						 depth + 1);
		}
	}
}

/*
 * Procedural frost texture (RGB 0..255 planes): a plasma-fractal haze plus
 * seeded six-armed dendritic crystals, blurred into a sharp and a glow
 * layer, tinted bluish white.  Feature size scales with the image (texture
 * scale 1 at 224 px ImageNet, 0.3 Tiny, 0.2 CIFAR, as the reference shrinks
 * its photographs).  Replaces the reference's five frost photographs.
 */
static sp_status
frost_texture(sp_corrupt_ctx *c, double *sharp, double *glow, double **haze_out, int *ms_out)
{
	int			w = c->w,
				h = c->h,
				S = w < h ? w : h;
	double		tscale = c->profile == SP_PROFILE_IMAGENET ? 1.0 :
		c->profile == SP_PROFILE_TINY ? 0.3 : 0.2;
	double		f = tscale * (double) S / (double) sp_corrupt_nominal_size(c->profile);
	double		spacing;
	int			ms = sp_next_pow2(w < 2 ? 2 : w),
				mh = sp_next_pow2(h < 2 ? 2 : h);
	size_t		n = (size_t) w * h;
	double	   *haze = NULL;
	long		seeds;
	sp_status	st;

	if (f < 0.05)
		f = 0.05;
	spacing = 30.0 * f;
	if (spacing < 2.0)
		spacing = 2.0;
	*haze_out = NULL;
	haze = sp_dalloc(c->env, (size_t) ms * mh, c->err);
	if (!haze)
		return SP_ERR_NOMEM;
	st = sp_plasma_fractal(c->env, &c->rng, ms, mh, 2.0, haze, c->err);
	if (st != SP_OK)
		goto done;
	memset(sharp, 0, sizeof(double) * n);
	seeds = (long) ((double) n / (spacing * spacing)) + 1;
	if (seeds > 200000)
		seeds = 200000;
	for (long s = 0; s < seeds; s++)
	{
		double		x = sp_rng_uniform(&c->rng) * w,
					y = sp_rng_uniform(&c->rng) * h;
		double		a0 = sp_rng_uniform(&c->rng) * M_PI / 3.0;
		double		size = (0.5 + sp_rng_uniform(&c->rng)) * 22.0 * f;
		double		v = 0.35 + 0.45 * sp_rng_uniform(&c->rng);

		if ((s & 255) == 0 && sp_env_interrupted(c->env))
		{
			st = INTERRUPTED(c);
			goto done;
		}
		for (int arm = 0; arm < 6; arm++)
		{
			double		a = a0 + arm * M_PI / 3.0 + (sp_rng_uniform(&c->rng) - 0.5) * 0.2;
			double		len = size * (0.6 + 0.4 * sp_rng_uniform(&c->rng));

			draw_arm(sharp, w, h, &c->rng, x, y, a, len, v, f, 0);
		}
	}
	memcpy(glow, sharp, sizeof(double) * n);
	st = sp_gaussian_filter(c->env, sharp, w, h, fmax(0.5, 0.6 * f), 4.0, SP_BORDER_REFLECT, c->err);
	if (st == SP_OK)
		st = sp_gaussian_filter(c->env, glow, w, h, fmax(1.0, 3.0 * f), 4.0, SP_BORDER_REFLECT, c->err);
done:
	if (st != SP_OK)
		sp_free(c->env, haze);
	else
	{
		*haze_out = haze;
		*ms_out = ms;
	}
	return st;
}

/*
 * clip(a * x + b * frost, 0, 255) in the 0..255 domain, with the texture
 * t = 0.22 + 0.4 haze + 0.9 min(sharp, 1) + 0.6 glow (clipped to 1) tinted
 * RGB (0.80, 0.90, 1.00) * 255.
 */
sp_status
sp_corrupt_frost(sp_corrupt_ctx *c, sp_image *out)
{
	static const double tint[3] = {0.80 * 255.0, 0.90 * 255.0, 255.0};
	int			w = c->w,
				h = c->h,
				ms = 0;
	size_t		n = (size_t) w * h;
	double	   *sharp = sp_dalloc(c->env, n, c->err),
			   *glow = sp_dalloc(c->env, n, c->err),
			   *haze = NULL;
	uint8_t    *rgb = NULL;
	sp_status	st = SP_OK;

	if (!sharp || !glow)
		st = SP_ERR_NOMEM;
	if (st == SP_OK)
		st = frost_texture(c, sharp, glow, &haze, &ms);
	if (st == SP_OK)
		st = sp_corrupt_out_begin(c, out, &rgb);
	if (st == SP_OK)
	{
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
			{
				size_t		i = (size_t) y * w + x;
				double		cr = sharp[i] > 1.0 ? 1.0 : sharp[i];
				double		t = 0.22 + 0.4 * haze[(size_t) y * ms + x] + 0.9 * cr + 0.6 * glow[i];

				t = t > 1.0 ? 1.0 : t;
				for (int k = 0; k < 3; k++)
					rgb[3 * i + k] = sp_trunc_u8(c->p[0] * sp_corrupt_in_px(c, i, k) + c->p[1] * (tint[k] * t));
			}
		st = sp_corrupt_out_end(c, out, rgb, st);
	}
	if (sharp)
		sp_free(c->env, sharp);
	if (glow)
		sp_free(c->env, glow);
	if (haze)
		sp_free(c->env, haze);
	return st;
}

/* ---- spatter ------------------------------------------------------------- */

/* cv2.Canny(img, low, high): Sobel 3x3 (replicate), L1 magnitude, NMS, hysteresis. */
sp_status
sp_corrupt_canny(const sp_env *env, const uint8_t *img, int w, int h, int low, int high, uint8_t *edges,
	  sp_error *err)
{
	size_t		n = (size_t) w * h;
	int16_t    *dx = sp_alloc_array(env, n, sizeof(int16_t));	/* |Sobel| <= 1020 */
	int16_t    *dy = sp_alloc_array(env, n, sizeof(int16_t));
	int		   *mag = sp_alloc_array(env, n, sizeof(int));
	uint8_t    *map = sp_alloc(env, n);	/* 0 weak, 1 none, 2 edge */
	uint32_t   *stack = sp_alloc_array(env, n, sizeof(uint32_t));
	size_t		top = 0;
	const int	TG22 = (int) (0.4142135623730950488016887242097 * (1 << 15) + 0.5);
	sp_status	st = SP_OK;

	if (!dx || !dy || !mag || !map || !stack)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
#define PX(yy, xx) ((int) img[(size_t) ((yy) < 0 ? 0 : (yy) >= h ? h - 1 : (yy)) * w + \
							   ((xx) < 0 ? 0 : (xx) >= w ? w - 1 : (xx))])
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
		{
			size_t		i = (size_t) y * w + x;

			dx[i] = (int16_t) ((PX(y - 1, x + 1) - PX(y - 1, x - 1)) + 2 * (PX(y, x + 1) - PX(y, x - 1)) +
							   (PX(y + 1, x + 1) - PX(y + 1, x - 1)));
			dy[i] = (int16_t) ((PX(y + 1, x - 1) - PX(y - 1, x - 1)) + 2 * (PX(y + 1, x) - PX(y - 1, x)) +
							   (PX(y + 1, x + 1) - PX(y - 1, x + 1)));
			mag[i] = abs(dx[i]) + abs(dy[i]);
		}
#undef PX
#define MAG(yy, xx) (((yy) < 0 || (yy) >= h || (xx) < 0 || (xx) >= w) ? 0 : mag[(size_t) (yy) * w + (xx)])
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
		{
			size_t		i = (size_t) y * w + x;
			int			m = mag[i],
						keep = 0;

			map[i] = 1;
			if (m <= low)
				continue;
			{
				int			xs = dx[i],
							ys = dy[i];
				long		ax = abs(xs),
							ay = (long) abs(ys) << 15;
				long		tg22x = ax * TG22;

				if (ay < tg22x)
					keep = m > MAG(y, x - 1) && m >= MAG(y, x + 1);
				else
				{
					long		tg67x = tg22x + (ax << 16);

					if (ay > tg67x)
						keep = m > MAG(y - 1, x) && m >= MAG(y + 1, x);
					else
					{
						int			s = (xs ^ ys) < 0 ? -1 : 1;

						keep = m > MAG(y - 1, x - s) && m > MAG(y + 1, x + s);
					}
				}
			}
			if (!keep)
				continue;
			if (m > high)
			{
				map[i] = 2;
				stack[top++] = (uint32_t) i;
			}
			else
				map[i] = 0;
		}
#undef MAG
	while (top > 0)
	{
		size_t		i = stack[--top];
		int			y = (int) (i / w),
					x = (int) (i % w);

		for (int yy = y - 1; yy <= y + 1; yy++)
			for (int xx = x - 1; xx <= x + 1; xx++)
			{
				size_t		j;

				if (yy < 0 || yy >= h || xx < 0 || xx >= w)
					continue;
				j = (size_t) yy * w + xx;
				if (map[j] == 0)
				{
					map[j] = 2;
					stack[top++] = (uint32_t) j;
				}
			}
	}
	for (size_t i = 0; i < n; i++)
		edges[i] = map[i] == 2 ? 255 : 0;
done:
	if (dx)
		sp_free(env, dx);
	if (dy)
		sp_free(env, dy);
	if (mag)
		sp_free(env, mag);
	if (map)
		sp_free(env, map);
	if (stack)
		sp_free(env, stack);
	return st;
}

/*
 * cv2.distanceTransform(src, DIST_L2, 5): two-pass 5x5 chamfer with OpenCV's
 * fixed-point weights 1, 1.4, 2.1969 (16 fractional bits); distance to the
 * nearest zero pixel, DIST_MAX where there is none.
 */
sp_status
sp_corrupt_distance_l2(const sp_env *env, const uint8_t *src, int w, int h, float *dst, sp_error *err)
{
	/* unsigned as in OpenCV: INIT + LONG does not overflow */
	const uint32_t HV = 65536, DIAG = 91750, LONG = 143976;	/* cvRound(x * 2^16) */
	const uint32_t INIT = INT32_MAX, DMAX = INT32_MAX >> 2;
	int			tw = w + 4;
	uint32_t   *t = sp_alloc_array(env, (size_t) tw * (h + 4), sizeof(uint32_t));

	if (!t)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < (size_t) tw * (h + 4); i++)
		t[i] = INIT;
#define T(yy, xx) t[(size_t) ((yy) + 2) * tw + (xx) + 2]
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
		{
			uint32_t	v;

			if (src[(size_t) y * w + x] == 0)
			{
				T(y, x) = 0;
				continue;
			}
			v = T(y - 2, x - 1) + LONG;
			v = v < T(y - 2, x + 1) + LONG ? v : T(y - 2, x + 1) + LONG;
			v = v < T(y - 1, x - 2) + LONG ? v : T(y - 1, x - 2) + LONG;
			v = v < T(y - 1, x - 1) + DIAG ? v : T(y - 1, x - 1) + DIAG;
			v = v < T(y - 1, x) + HV ? v : T(y - 1, x) + HV;
			v = v < T(y - 1, x + 1) + DIAG ? v : T(y - 1, x + 1) + DIAG;
			v = v < T(y - 1, x + 2) + LONG ? v : T(y - 1, x + 2) + LONG;
			v = v < T(y, x - 1) + HV ? v : T(y, x - 1) + HV;
			T(y, x) = v < INIT ? v : INIT;	/* unreached stays INIT: no overflow on tall images */
		}
	for (int y = h - 1; y >= 0; y--)
		for (int x = w - 1; x >= 0; x--)
		{
			uint32_t	v = T(y, x);

			if (v != 0)
			{
				v = v < T(y + 2, x + 1) + LONG ? v : T(y + 2, x + 1) + LONG;
				v = v < T(y + 2, x - 1) + LONG ? v : T(y + 2, x - 1) + LONG;
				v = v < T(y + 1, x + 2) + LONG ? v : T(y + 1, x + 2) + LONG;
				v = v < T(y + 1, x + 1) + DIAG ? v : T(y + 1, x + 1) + DIAG;
				v = v < T(y + 1, x) + HV ? v : T(y + 1, x) + HV;
				v = v < T(y + 1, x - 1) + DIAG ? v : T(y + 1, x - 1) + DIAG;
				v = v < T(y + 1, x - 2) + LONG ? v : T(y + 1, x - 2) + LONG;
				v = v < T(y, x + 1) + HV ? v : T(y, x + 1) + HV;
				v = v < INIT ? v : INIT;
				T(y, x) = v;
			}
			if (v > DMAX)
				v = DMAX;
			dst[(size_t) y * w + x] = (float) v * (1.0f / 65536.0f);
		}
#undef T
	sp_free(env, t);
	return SP_OK;
}

/* reflect-101 neighbour tables: idx[i + 1] for i = -1..n */
static void
r101_table(int n, int *idx)
{
	for (int i = -1; i <= n; i++)
		idx[i + 1] = (int) sp_border_index(i, n, SP_BORDER_REFLECT101);
}

/*
 * cv2.blur(3x3) on a float plane, border reflect-101.  Kept apart from
 * filter3x3_u8: float sums are not exact, so the addition order here is part
 * of the output.
 */
static void
box3_float(const float *src, float *dst, int w, int h, const int *xi, const int *yi)
{
	for (int y = 0; y < h; y++)
	{
		const float *r0 = src + (size_t) yi[y] * w,
				   *r1 = src + (size_t) yi[y + 1] * w,
				   *r2 = src + (size_t) yi[y + 2] * w;

		for (int x = 0; x < w; x++)
		{
			int			a = xi[x],
						b = xi[x + 1],
						cc = xi[x + 2];
			float		s = r0[a] + r0[b] + r0[cc] + r1[a] + r1[b] + r1[cc] + r2[a] + r2[b] + r2[cc];

			dst[(size_t) y * w + x] = s * (1.0f / 9.0f);
		}
	}
}

/*
 * 3x3 correlation of a uint8 plane with integer weights k (row-major), border
 * reflect-101 through the xi / yi tables; serves both cv2.blur(3x3) and the
 * emboss filter2D of spatter.  The weighted sum is exact in int, so the two
 * only differ in how they map it back to uint8 (fin).
 */
typedef enum
{
	U8_ROUND_DIV9,				/* cv2.blur: s/9 rounded */
	U8_SATURATE					/* filter2D(CV_8U): s clamped to 0..255 */
} u8_finish;

static void
filter3x3_u8(const uint8_t *src, uint8_t *dst, int w, int h, const int *xi, const int *yi,
			 const int k[9], u8_finish fin)
{
	for (int y = 0; y < h; y++)
	{
		const uint8_t *r[3] = {
			src + (size_t) yi[y] * w,
			src + (size_t) yi[y + 1] * w,
			src + (size_t) yi[y + 2] * w
		};

		for (int x = 0; x < w; x++)
		{
			int			s = 0;

			for (int ry = 0; ry < 3; ry++)
				for (int rx = 0; rx < 3; rx++)
					s += k[ry * 3 + rx] * r[ry][xi[x + rx]];
			if (fin == U8_ROUND_DIV9)
				/* s/9 is never exactly half way, so this is cvRound */
				dst[(size_t) y * w + x] = (uint8_t) ((2 * s + 9) / 18);
			else
				dst[(size_t) y * w + x] = s < 0 ? 0 : s > 255 ? 255 : (uint8_t) s;
		}
	}
}

/* cv2.equalizeHist. */
static void
equalize_hist(uint8_t *img, size_t n)
{
	size_t		hist[256] = {0};
	uint8_t		lut[256];
	int			i = 0;
	size_t		sum = 0;
	float		scale;

	for (size_t k = 0; k < n; k++)
		hist[img[k]]++;
	while (i < 255 && !hist[i])
		i++;
	if (hist[i] == n)
	{
		memset(img, i, n);
		return;
	}
	scale = 255.0f / (float) (n - hist[i]);
	memset(lut, 0, sizeof(lut));
	for (lut[i++] = 0; i < 256; i++)
	{
		float		v;

		sum += hist[i];
		v = (float) sum * scale;
		lut[i] = v >= 255.0f ? 255 : (uint8_t) lrintf(v);
	}
	for (size_t k = 0; k < n; k++)
		img[k] = lut[img[k]];
}

/*
 * Water mode of spatter on an already thresholded liquid layer liq (H x W):
 * a glossy sheen along the liquid's edges, m = u8(liq) * emboss(...)
 * normalised by its max, times k; rgb = trunc(clip(x + m * (175, 238, 238) / 255)).
 * Shared with the ImageNet-P spatter sequence (perturb.c).
 */
sp_status
sp_spatter_water(sp_corrupt_ctx *c, const double *liq, double k, uint8_t *rgb)
{
	static const double colour[3] = {175.0 / 255.0, 238.0 / 255.0, 238.0 / 255.0};
	static const int emboss[9] = {-2, -1, 0, -1, 1, 1, 0, 1, 2};
	static const int box[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	int			w = c->w,
				h = c->h;
	size_t		n = (size_t) w * h;
	const double *lut = sp_corrupt_u8_unit();
	double		mx = 0.0;
	uint8_t    *u8 = NULL,
			   *e8 = NULL,
			   *t8 = NULL;
	float	   *d = NULL,
			   *d2 = NULL;
	int		   *xi = NULL;
	sp_status	st = SP_OK;

	u8 = sp_alloc(c->env, n);
	e8 = sp_alloc(c->env, n);
	t8 = sp_alloc(c->env, n);
	d = sp_alloc_array(c->env, n, sizeof(float));
	d2 = sp_alloc_array(c->env, n, sizeof(float));
	xi = sp_alloc_array(c->env, (size_t) w + (size_t) h + 4, sizeof(int));
	if (!u8 || !e8 || !t8 || !d || !d2 || !xi)
	{
		st = sp_set_error(c->err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		u8[i] = (uint8_t) (int64_t) (liq[i] * 255.0);	/* numpy astype wraps */
	r101_table(w, xi);
	r101_table(h, xi + w + 2);
	st = sp_corrupt_canny(c->env, u8, w, h, 50, 150, e8, c->err);
	if (st != SP_OK)
		goto done;
	for (size_t i = 0; i < n; i++)
		e8[i] = (uint8_t) (255 - e8[i]);
	st = sp_corrupt_distance_l2(c->env, e8, w, h, d, c->err);
	if (st != SP_OK)
		goto done;
	for (size_t i = 0; i < n; i++)
		d[i] = d[i] > 20.0f ? 20.0f : d[i];	/* THRESH_TRUNC at 20 */
	box3_float(d, d2, w, h, xi, xi + w + 2);
	for (size_t i = 0; i < n; i++)
		e8[i] = (uint8_t) d2[i];
	equalize_hist(e8, n);
	filter3x3_u8(e8, t8, w, h, xi, xi + w + 2, emboss, U8_SATURATE);
	filter3x3_u8(t8, e8, w, h, xi, xi + w + 2, box, U8_ROUND_DIV9);
	for (size_t i = 0; i < n; i++)
	{
		d[i] = (float) u8[i] * (float) e8[i];
		mx = d[i] > mx ? d[i] : mx;
	}
	for (size_t i = 0; i < n; i++)
	{
		double		m = mx > 0.0 ? (double) (d[i] / (float) mx) * k : 0.0;

		for (int ch = 0; ch < 3; ch++)
			rgb[3 * i + ch] = sp_trunc_u8((lut[sp_corrupt_in_px(c, i, ch)] + m * colour[ch]) * 255.0);
	}
done:
	if (u8)
		sp_free(c->env, u8);
	if (e8)
		sp_free(c->env, e8);
	if (t8)
		sp_free(c->env, t8);
	if (d)
		sp_free(c->env, d);
	if (d2)
		sp_free(c->env, d2);
	if (xi)
		sp_free(c->env, xi);
	return st;
}

sp_status
sp_corrupt_spatter(sp_corrupt_ctx *c, sp_image *out)
{
	const double *p = c->p;
	int			w = c->w,
				h = c->h;
	size_t		n = (size_t) w * h;
	double	   *liq = NULL;
	const double *lut = sp_corrupt_u8_unit();
	uint8_t    *rgb = NULL;
	sp_status	st;

	liq = sp_dalloc(c->env, n, c->err);
	if (!liq)
		return SP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		liq[i] = p[0] + p[1] * sp_rng_normal(&c->rng);
	st = sp_gaussian_filter(c->env, liq, w, h, p[2], 4.0, SP_BORDER_NEAREST, c->err);
	if (st != SP_OK)
		goto done;
	for (size_t i = 0; i < n; i++)
		if (liq[i] < p[3])
			liq[i] = 0.0;

	st = sp_corrupt_out_begin(c, out, &rgb);
	if (st != SP_OK)
		goto done;
	if (p[5] == 0.0)
		/* water: a glossy sheen along the liquid's edges */
		st = sp_spatter_water(c, liq, p[4], rgb);
	else
	{
		/* mud: opaque brown where the smoothed mask is >= 0.8 */
		static const double colour[3] = {63.0 / 255.0, 42.0 / 255.0, 20.0 / 255.0};

		for (size_t i = 0; i < n; i++)
			liq[i] = liq[i] > p[3] ? 1.0 : 0.0;
		st = sp_gaussian_filter(c->env, liq, w, h, p[4], 4.0, SP_BORDER_NEAREST, c->err);
		for (size_t i = 0; i < n && st == SP_OK; i++)
		{
			double		m = liq[i] < 0.8 ? 0.0 : liq[i];

			for (int k = 0; k < 3; k++)
				rgb[3 * i + k] = sp_trunc_u8((lut[sp_corrupt_in_px(c, i, k)] * (1.0 - m) + m * colour[k]) * 255.0);
		}
	}
	st = sp_corrupt_out_end(c, out, rgb, st);
done:
	sp_free(c->env, liq);
	return st;
}
