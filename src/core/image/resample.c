/*
 * resample.c: clipped zoom, Pillow BOX resize and bilinear sampling (see
 * resample.h).  No helper allocates per pixel.
 */
#include "image/resample.h"

#include <math.h>
#include <string.h>

/* One axis of clipped_zoom: source indices and weights for n outputs. */
static void
zoom_axis(int n, double z, int *i0, int *i1, double *t)
{
	int			ch = (int) ceil((double) n / z);
	int			top,
				zn,
				trim;
	double		ratio;

	if (ch < 1)
		ch = 1;
	if (ch > n)
		ch = n;
	top = (n - ch) / 2;
	zn = (int) nearbyint((double) ch * z);	/* Python round(): half to even */
	if (zn < n)
		zn = n;
	trim = (zn - n) / 2;
	ratio = zn > 1 ? (double) (ch - 1) / (double) (zn - 1) : 0.0;
	for (int i = 0; i < n; i++)
	{
		double		c = (double) (i + trim) * ratio;
		int			a = (int) floor(c);

		if (a < 0)
			a = 0;
		if (a > ch - 1)
			a = ch - 1;
		t[i] = c - a;
		if (t[i] < 0.0)
			t[i] = 0.0;
		i0[i] = top + a;
		i1[i] = top + (a + 1 < ch ? a + 1 : a);
	}
}

sp_status
sp_clipped_zoom(const sp_env *env, const double *src, double *dst, int w, int h,
				double z, int add, sp_error *err)
{
	int		   *ix = NULL;
	double	   *tx = NULL,
			   *ty = NULL;
	sp_status	st = SP_OK;

	if (!(z >= 1.0))
		z = 1.0;
	ix = sp_alloc_array(env, (size_t) (2 * w + 2 * h), sizeof(int));
	tx = sp_dalloc(env, (size_t) (w + h), err);
	if (!ix || !tx)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	ty = tx + w;
	{
		int		   *x0 = ix,
				   *x1 = ix + w,
				   *y0 = ix + 2 * w,
				   *y1 = ix + 2 * w + h;

		zoom_axis(w, z, x0, x1, tx);
		zoom_axis(h, z, y0, y1, ty);
		for (int y = 0; y < h; y++)
		{
			const double *ra = src + (size_t) y0[y] * w;
			const double *rb = src + (size_t) y1[y] * w;
			double		b = ty[y],
						a = 1.0 - b;
			double	   *o = dst + (size_t) y * w;

			if ((y & 63) == 0 && sp_env_interrupted(env))
			{
				st = sp_set_error(err, SP_ERR_INTERRUPTED, "corruption interrupted");
				goto done;
			}
			for (int x = 0; x < w; x++)
			{
				double		d = tx[x],
							c = 1.0 - d;
				double		v = a * (c * ra[x0[x]] + d * ra[x1[x]]) +
					b * (c * rb[x0[x]] + d * rb[x1[x]]);

				o[x] = add ? o[x] + v : v;
			}
		}
	}
done:
	if (ix)
		sp_free(env, ix);
	if (tx)
		sp_free(env, tx);
	return st;
}

/* ---- Pillow BOX resampling ------------------------------------------- */

#define PIL_PRECISION_BITS (32 - 8 - 2)

static inline double
box_filter(double x)
{
	return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

/* Pillow precompute_coeffs + normalize_coeffs_8bpc for the box filter. */
static int
box_coeffs(const sp_env *env, int in_size, int out_size, int **bounds, int **coef, sp_error *err)
{
	double		scale = (double) in_size / (double) out_size;
	double		filterscale = scale < 1.0 ? 1.0 : scale;
	double		support = 0.5 * filterscale;
	int			ksize = (int) ceil(support) * 2 + 1;
	double		pre[4096];
	double	   *prek;
	int			own = 0;

	*bounds = sp_alloc_array(env, (size_t) out_size, 2 * sizeof(int));
	*coef = sp_alloc_array(env, (size_t) out_size, (size_t) ksize * sizeof(int));
	if (ksize <= 4096)
		prek = pre;
	else
	{
		prek = sp_dalloc(env, (size_t) ksize, err);
		own = 1;
	}
	if (!*bounds || !*coef || !prek)
	{
		if (*bounds)
			sp_free(env, *bounds);
		if (*coef)
			sp_free(env, *coef);
		if (own && prek)
			sp_free(env, prek);
		*bounds = *coef = NULL;
		sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		return -1;
	}
	for (int xx = 0; xx < out_size; xx++)
	{
		double		center = (xx + 0.5) * scale;
		double		ww = 0.0,
					ss = 1.0 / filterscale;
		int			xmin = (int) (center - support + 0.5),
					xmax;
		int		   *k = *coef + (size_t) xx * ksize;

		if (xmin < 0)
			xmin = 0;
		xmax = (int) (center + support + 0.5);
		if (xmax > in_size)
			xmax = in_size;
		xmax -= xmin;
		if (xmax > ksize)
			xmax = ksize;
		for (int x = 0; x < xmax; x++)
		{
			prek[x] = box_filter((x + xmin - center + 0.5) * ss);
			ww += prek[x];
		}
		for (int x = 0; x < ksize; x++)
		{
			double		v = x < xmax && ww != 0.0 ? prek[x] / ww : 0.0;

			k[x] = v < 0 ? (int) (-0.5 + v * (1 << PIL_PRECISION_BITS))
				: (int) (0.5 + v * (1 << PIL_PRECISION_BITS));
		}
		(*bounds)[2 * xx] = xmin;
		(*bounds)[2 * xx + 1] = xmax;
	}
	if (own)
		sp_free(env, prek);
	return ksize;
}

static inline uint8_t
clip8_pil(int64_t in)
{
	int64_t		v = in >> PIL_PRECISION_BITS;

	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t) v;
}

sp_status
sp_box_resize_u8(const sp_env *env, const uint8_t *src, int sw, int sh, int c,
				 uint8_t *dst, int dw, int dh, sp_error *err)
{
	int		   *xb = NULL,
			   *xk = NULL,
			   *yb = NULL,
			   *yk = NULL;
	int			kx,
				ky;
	uint8_t    *mid = NULL;
	sp_status	st = SP_OK;

	kx = box_coeffs(env, sw, dw, &xb, &xk, err);
	if (kx < 0)
		return SP_ERR_NOMEM;
	ky = box_coeffs(env, sh, dh, &yb, &yk, err);
	if (ky < 0)
	{
		st = SP_ERR_NOMEM;
		goto done;
	}
	mid = sp_alloc_array(env, (size_t) dw * (size_t) sh, (size_t) c);
	if (!mid)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	/* horizontal pass (skipped by Pillow when the width is unchanged) */
	for (int y = 0; y < sh; y++)
	{
		const uint8_t *in = src + (size_t) y * sw * c;
		uint8_t    *o = mid + (size_t) y * dw * c;

		if (dw == sw)
		{
			memcpy(o, in, (size_t) sw * c);
			continue;
		}
		for (int xx = 0; xx < dw; xx++)
		{
			int			xmin = xb[2 * xx],
						xmax = xb[2 * xx + 1];
			const int  *k = xk + (size_t) xx * kx;

			for (int ch = 0; ch < c; ch++)
			{
				int64_t		ss = 1 << (PIL_PRECISION_BITS - 1);

				for (int x = 0; x < xmax; x++)
					ss += (int64_t) in[(size_t) (x + xmin) * c + ch] * k[x];
				o[(size_t) xx * c + ch] = clip8_pil(ss);
			}
		}
	}
	/* vertical pass */
	for (int yy = 0; yy < dh; yy++)
	{
		uint8_t    *o = dst + (size_t) yy * dw * c;
		int			ymin = yb[2 * yy],
					ymax = yb[2 * yy + 1];
		const int  *k = yk + (size_t) yy * ky;

		if (dh == sh)
		{
			memcpy(o, mid + (size_t) yy * dw * c, (size_t) dw * c);
			continue;
		}
		for (int xx = 0; xx < dw * c; xx++)
		{
			int64_t		ss = 1 << (PIL_PRECISION_BITS - 1);

			for (int y = 0; y < ymax; y++)
				ss += (int64_t) mid[(size_t) (y + ymin) * dw * c + xx] * k[y];
			o[xx] = clip8_pil(ss);
		}
	}
done:
	if (xb)
		sp_free(env, xb);
	if (xk)
		sp_free(env, xk);
	if (yb)
		sp_free(env, yb);
	if (yk)
		sp_free(env, yk);
	if (mid)
		sp_free(env, mid);
	return st;
}

/* ---- bilinear sampling ------------------------------------------------- */

double
sp_bilinear(const double *plane, int w, int h, double x, double y, sp_border mode)
{
	double		fx = floor(x),
				fy = floor(y);
	double		tx = x - fx,
				ty = y - fy;
	long		x0,
				x1,
				y0,
				y1;
	double		a,
				b,
				c,
				d;

	if (fx >= 0 && fy >= 0 && fx + 1 < w && fy + 1 < h)
	{
		/* interior: no border mapping */
		const double *p = plane + (long) fy * w + (long) fx;

		a = p[0], b = p[1], c = p[w], d = p[w + 1];
	}
	else
	{
		if (!(fx > -1e9 && fx < 1e9 && fy > -1e9 && fy < 1e9))
			return 0.0;			/* NaN or absurd coordinates */
		x0 = sp_border_index((long) fx, w, mode);
		x1 = sp_border_index((long) fx + 1, w, mode);
		y0 = sp_border_index((long) fy, h, mode);
		y1 = sp_border_index((long) fy + 1, h, mode);
		a = (y0 < 0 || x0 < 0) ? 0.0 : plane[y0 * w + x0];
		b = (y0 < 0 || x1 < 0) ? 0.0 : plane[y0 * w + x1];
		c = (y1 < 0 || x0 < 0) ? 0.0 : plane[y1 * w + x0];
		d = (y1 < 0 || x1 < 0) ? 0.0 : plane[y1 * w + x1];
	}
	return (1.0 - ty) * ((1.0 - tx) * a + tx * b) + ty * ((1.0 - tx) * c + tx * d);
}
