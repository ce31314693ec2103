/*
 * imgproc.c: float image helpers shared by the corruptions (see imgproc.h).
 *
 * Performance notes: filters run as row-wise "axpy" loops over contiguous
 * memory (out_row += w * in_row) so the compiler can vectorise them; the
 * column pass of a separable filter walks rows, not columns.  No helper
 * allocates per pixel.
 */
#include "image/imgproc.h"

#include <math.h>
#include <string.h>

#define INTERRUPT_CHECK(env, err) \
	do { if (sp_env_interrupted(env)) { \
		st = sp_set_error((err), SP_ERR_INTERRUPTED, "corruption interrupted"); goto done; } } while (0)

long
sp_border_index(long i, long n, sp_border mode)
{
	long		p;

	if (i >= 0 && i < n)
		return i;
	switch (mode)
	{
		case SP_BORDER_CONSTANT:
			return -1;
		case SP_BORDER_NEAREST:
			return i < 0 ? 0 : n - 1;
		case SP_BORDER_REFLECT:
			p = 2 * n;
			i %= p;
			if (i < 0)
				i += p;
			return i >= n ? p - 1 - i : i;
		case SP_BORDER_REFLECT101:
			if (n == 1)
				return 0;
			p = 2 * n - 2;
			i %= p;
			if (i < 0)
				i += p;
			return i >= n ? p - i : i;
	}
	return 0;
}

double *
sp_dalloc(const sp_env *env, size_t n, sp_error *err)
{
	double	   *p = sp_alloc_array(env, n ? n : 1, sizeof(double));

	if (!p)
		sp_set_error(err, SP_ERR_NOMEM, "out of memory allocating %zu doubles", n);
	return p;
}

sp_status
sp_fimg_alloc(const sp_env *env, sp_fimg *f, int w, int h, int c, sp_error *err)
{
	size_t		n;

	f->w = w;
	f->h = h;
	f->c = c;
	f->data = NULL;
	if (w <= 0 || h <= 0 || c <= 0 ||
		!sp_mul_size((size_t) w, (size_t) h, &n) || !sp_mul_size(n, (size_t) c, &n))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid float image size %dx%dx%d", w, h, c);
	f->data = sp_dalloc(env, n, err);
	return f->data ? SP_OK : SP_ERR_NOMEM;
}

void
sp_fimg_free(const sp_env *env, sp_fimg *f)
{
	if (f && f->data)
	{
		sp_free(env, f->data);
		f->data = NULL;
	}
}

sp_status
sp_fimg_from_image(const sp_env *env, const sp_image *in, sp_fimg *f, sp_error *err)
{
	sp_status	st = sp_fimg_alloc(env, f, in->width, in->height, 3, err);
	size_t		n = (size_t) in->width * (size_t) in->height;
	double		lut[256];

	if (st != SP_OK)
		return st;
	for (int v = 0; v < 256; v++)
		lut[v] = (double) v / 255.0;
	for (int k = 0; k < 3; k++)
	{
		double	   *p = sp_fimg_plane(f, k);

		if (in->channels == 1)
			for (size_t i = 0; i < n; i++)
				p[i] = lut[in->pixels[i]];
		else
			for (size_t i = 0; i < n; i++)
				p[i] = lut[in->pixels[3 * i + k]];
	}
	return SP_OK;
}

static inline uint8_t
trunc_u8(double v)
{
	if (!(v > 0.0))				/* also maps NaN to 0 */
		return 0;
	if (v >= 255.0)
		return 255;
	return (uint8_t) v;
}

static inline uint8_t
luma_pil(uint8_t r, uint8_t g, uint8_t b)
{
	return (uint8_t) (((uint32_t) r * 19595 + (uint32_t) g * 38470 + (uint32_t) b * 7471 + 0x8000) >> 16);
}

sp_status
sp_fimg_to_image(const sp_env *env, const sp_fimg *f, double scale, int out_channels,
				 sp_image *out, sp_error *err)
{
	sp_status	st = sp_image_alloc(env, out, f->w, f->h, out_channels, err);
	size_t		n = (size_t) f->w * (size_t) f->h;
	const double *r = sp_fimg_plane(f, 0),
			   *g = sp_fimg_plane(f, 1),
			   *b = sp_fimg_plane(f, 2);

	if (st != SP_OK)
		return st;
	if (out_channels == 3)
		for (size_t i = 0; i < n; i++)
		{
			/* clip(x, 0, 1) * 255 == clip(x * 255, 0, 255) for scale 255 */
			out->pixels[3 * i] = trunc_u8(r[i] * scale);
			out->pixels[3 * i + 1] = trunc_u8(g[i] * scale);
			out->pixels[3 * i + 2] = trunc_u8(b[i] * scale);
		}
	else
		for (size_t i = 0; i < n; i++)
			out->pixels[i] = luma_pil(trunc_u8(r[i] * scale), trunc_u8(g[i] * scale),
									  trunc_u8(b[i] * scale));
	return SP_OK;
}

sp_status
sp_rgb8_to_image(const sp_env *env, const uint8_t *rgb, int w, int h, int out_channels,
				 sp_image *out, sp_error *err)
{
	sp_status	st = sp_image_alloc(env, out, w, h, out_channels, err);
	size_t		n = (size_t) w * (size_t) h;

	if (st != SP_OK)
		return st;
	if (out_channels == 3)
		memcpy(out->pixels, rgb, 3 * n);
	else
		for (size_t i = 0; i < n; i++)
			out->pixels[i] = luma_pil(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
	return SP_OK;
}

uint8_t *
sp_image_to_rgb8(const sp_env *env, const sp_image *in, sp_error *err)
{
	size_t		n = (size_t) in->width * (size_t) in->height;
	uint8_t    *p = sp_alloc_array(env, n, 3);

	if (!p)
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (in->channels == 3)
		memcpy(p, in->pixels, 3 * n);
	else
		for (size_t i = 0; i < n; i++)
			p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = in->pixels[i];
	return p;
}

int
sp_gaussian_kernel(const sp_env *env, double sigma, double truncate, double **k, sp_error *err)
{
	int			r;
	double		sum = 0.0;

	*k = NULL;
	if (!(sigma > 1e-15))
	{
		*k = sp_dalloc(env, 1, err);
		if (!*k)
			return -1;
		(*k)[0] = 1.0;
		return 0;
	}
	r = (int) (truncate * sigma + 0.5);
	if (r > 100000)
		r = 100000;				/* sigmas beyond this are flat anyway */
	*k = sp_dalloc(env, (size_t) (2 * r + 1), err);
	if (!*k)
		return -1;
	for (int i = -r; i <= r; i++)
	{
		double		x = (double) i / sigma;

		(*k)[i + r] = exp(-0.5 * x * x);
		sum += (*k)[i + r];
	}
	for (int i = 0; i <= 2 * r; i++)
		(*k)[i] /= sum;
	return r;
}

/*
 * Line kernel for n samples: out[i] = sum_t kk[t] * x[map(i + t - off)].
 * Periodic modes fold a kernel longer than the period onto one period.
 */
static double *
line_kernel(const sp_env *env, const double *k, int r, long n, sp_border mode,
			int *len, int *off, sp_error *err)
{
	long		period = 0;
	double	   *kk;

	if (mode == SP_BORDER_REFLECT)
		period = 2 * n;
	else if (mode == SP_BORDER_REFLECT101)
		period = n > 1 ? 2 * n - 2 : 1;
	if (period > 0 && 2L * r + 1 > period)
	{
		kk = sp_dalloc(env, (size_t) period, err);
		if (!kk)
			return NULL;
		memset(kk, 0, sizeof(double) * (size_t) period);
		for (long j = -r; j <= r; j++)
		{
			long		q = j % period;

			if (q < 0)
				q += period;
			kk[q] += k[j + r];
		}
		*len = (int) period;
		*off = 0;
		return kk;
	}
	kk = sp_dalloc(env, (size_t) (2 * r + 1), err);
	if (!kk)
		return NULL;
	memcpy(kk, k, sizeof(double) * (size_t) (2 * r + 1));
	*len = 2 * r + 1;
	*off = r;
	return kk;
}

sp_status
sp_sep_filter(const sp_env *env, double *plane, int w, int h, const double *kx, int rx,
			  const double *ky, int ry, sp_border mode, sp_error *err)
{
	sp_status	st = SP_OK;
	double	   *kk = NULL,
			   *ext = NULL,
			   *tmp = NULL;
	int			len,
				off;

	if (kx)
	{
		kk = line_kernel(env, kx, rx, w, mode, &len, &off, err);
		if (!kk)
			return SP_ERR_NOMEM;
		ext = sp_dalloc(env, (size_t) w + (size_t) len, err);
		tmp = sp_dalloc(env, (size_t) w, err);
		if (!ext || !tmp)
		{
			st = SP_ERR_NOMEM;
			goto done;
		}
		for (int y = 0; y < h; y++)
		{
			double	   *row = plane + (size_t) y * w;

			if ((y & 31) == 0)
				INTERRUPT_CHECK(env, err);
			for (long m = 0; m < (long) w + len - 1; m++)
			{
				long		s = sp_border_index(m - off, w, mode);

				ext[m] = s < 0 ? 0.0 : row[s];
			}
			for (int i = 0; i < w; i++)
				tmp[i] = 0.0;
			for (int t = 0; t < len; t++)
				if (kk[t] != 0.0)
					sp_axpy(tmp, ext + t, kk[t], w);
			memcpy(row, tmp, sizeof(double) * (size_t) w);
		}
		sp_free(env, kk);
		sp_free(env, ext);
		sp_free(env, tmp);
		kk = ext = tmp = NULL;
	}
	if (ky)
	{
		/*
		 * Column pass on strips of SP_STRIP columns: copy the strip with its
		 * border rows into a small buffer, then each output row is a sum of
		 * buffer rows (fixed-length loops the compiler vectorises), written
		 * straight back into the plane.
		 */
#define SP_STRIP 32
		kk = line_kernel(env, ky, ry, h, mode, &len, &off, err);
		if (!kk)
			return SP_ERR_NOMEM;
		tmp = sp_dalloc(env, ((size_t) h + (size_t) len) * SP_STRIP, err);
		if (!tmp)
		{
			st = SP_ERR_NOMEM;
			goto done;
		}
		/* a last partial strip leaves columns unwritten: keep them defined */
		memset(tmp, 0, sizeof(double) * ((size_t) h + (size_t) len) * SP_STRIP);
		for (int x0 = 0; x0 < w; x0 += SP_STRIP)
		{
			int			sw = w - x0 < SP_STRIP ? w - x0 : SP_STRIP;

			INTERRUPT_CHECK(env, err);
			for (long m = 0; m < (long) h + len - 1; m++)
			{
				long		s = sp_border_index(m - off, h, mode);
				double	   *b = tmp + (size_t) m * SP_STRIP;

				if (s < 0)
					memset(b, 0, sizeof(double) * SP_STRIP);
				else
					memcpy(b, plane + (size_t) s * w + x0, sizeof(double) * (size_t) sw);
			}
			for (int y = 0; y < h; y++)
			{
				double		acc[SP_STRIP] = {0};

				for (int t = 0; t < len; t++)
					if (kk[t] != 0.0)
						sp_axpy(acc, tmp + (size_t) (y + t) * SP_STRIP, kk[t], SP_STRIP);
				memcpy(plane + (size_t) y * w + x0, acc, sizeof(double) * (size_t) sw);
			}
		}
	}
done:
	if (kk)
		sp_free(env, kk);
	if (ext)
		sp_free(env, ext);
	if (tmp)
		sp_free(env, tmp);
	return st;
}

sp_status
sp_gaussian_filter(const sp_env *env, double *plane, int w, int h, double sigma,
				   double truncate, sp_border mode, sp_error *err)
{
	double	   *k;
	int			r;
	sp_status	st;

	if (!(sigma > 1e-15))
		return SP_OK;			/* scipy skips axes with sigma <= 1e-15 */
	r = sp_gaussian_kernel(env, sigma, truncate, &k, err);
	if (r < 0)
		return SP_ERR_NOMEM;
	/* scipy filters axis 0 (rows index) first, then axis 1 */
	st = sp_sep_filter(env, plane, w, h, NULL, 0, k, r, mode, err);
	if (st == SP_OK)
		st = sp_sep_filter(env, plane, w, h, k, r, NULL, 0, mode, err);
	sp_free(env, k);
	return st;
}

sp_status
sp_filter2d(const sp_env *env, const double *src, double *dst, int w, int h,
			const double *k, int kw, int kh, sp_border mode, sp_error *err)
{
	sp_status	st = SP_OK;
	int			ax = kw / 2,
				ay = kh / 2;
	size_t		pw = (size_t) w + (size_t) kw - 1;
	double	   *pad = NULL;
	long	   *xmap = NULL;

	pad = sp_dalloc(env, pw * (size_t) kh, err);	/* kh padded rows, ring */
	xmap = sp_alloc_array(env, pw, sizeof(long));
	if (!pad || !xmap)
	{
		if (!xmap)
			sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		st = SP_ERR_NOMEM;
		goto done;
	}
	for (size_t m = 0; m < pw; m++)
		xmap[m] = sp_border_index((long) m - ax, w, mode);
	for (int y = 0; y < h; y++)
	{
		double	   *o = dst + (size_t) y * w;

		if ((y & 31) == 0)
			INTERRUPT_CHECK(env, err);
		for (int i = 0; i < w; i++)
			o[i] = 0.0;
		for (int j = 0; j < kh; j++)
		{
			long		s = sp_border_index((long) y + j - ay, h, mode);
			double	   *prow = pad + (size_t) j * pw;
			const double *krow = k + (size_t) j * kw;
			int			any = 0;

			if (s < 0)
				continue;
			for (int i = 0; i < kw; i++)
				any |= krow[i] != 0.0;
			if (!any)
				continue;
			{
				const double *srow = src + (size_t) s * w;

				for (size_t m = 0; m < pw; m++)
					prow[m] = xmap[m] < 0 ? 0.0 : srow[xmap[m]];
			}
			for (int i = 0; i < kw; i++)
				if (krow[i] != 0.0)
					sp_axpy(o, prow + i, krow[i], w);
		}
	}
done:
	if (pad)
		sp_free(env, pad);
	if (xmap)
		sp_free(env, xmap);
	return st;
}

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

			if ((y & 63) == 0)
				INTERRUPT_CHECK(env, err);
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

/* ---- ImageMagick motion blur ------------------------------------------ */

int
sp_motion_kernel(int radius, double sigma, double angle_deg, double *w, int *dx, int *dy,
				 int max_taps)
{
	int			width = 2 * (radius < 1 ? 1 : radius) + 1;
	double		norm = 0.0,
				px,
				py,
				hyp;
	const double sq2pi = 2.50662827463100024161235523934010416269302368164062;

	if (fabs(sigma) < 1e-12)
		sigma = 1e-12;
	if (width > max_taps)
		width = max_taps;
	for (int i = 0; i < width; i++)
	{
		w[i] = exp(-((double) i * i) / (2.0 * sigma * sigma)) / (sq2pi * sigma);
		norm += w[i];
	}
	for (int i = 0; i < width; i++)
		w[i] /= norm;
	px = (double) width * sin(M_PI * angle_deg / 180.0);
	py = (double) width * cos(M_PI * angle_deg / 180.0);
	hyp = hypot(px, py);
	for (int i = 0; i < width; i++)
	{
		dx[i] = (int) ceil((double) i * py / hyp - 0.5);
		dy[i] = (int) ceil((double) i * px / hyp - 0.5);
	}
	return width;
}

sp_status
sp_motion_blur_u8(const sp_env *env, const uint8_t *src, uint8_t *dst, int w, int h, int c,
				  int radius, double sigma, double angle_deg, sp_error *err)
{
	double		kw[512];
	int			kdx[512],
				kdy[512];
	int			n;
	sp_status	st = SP_OK;
	int		   *xi = NULL;
	double	   *acc = NULL;

	if (radius > 255)
		radius = 255;
	n = sp_motion_kernel(radius, sigma, angle_deg, kw, kdx, kdy, 512);
	xi = sp_alloc_array(env, (size_t) w, sizeof(int));
	acc = sp_dalloc(env, (size_t) w * c, err);
	if (!xi || !acc)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int y = 0; y < h; y++)
	{
		uint8_t    *o = dst + (size_t) y * w * c;

		if ((y & 31) == 0)
			INTERRUPT_CHECK(env, err);
		for (int x = 0; x < w * c; x++)
			acc[x] = 0.0;
		for (int i = 0; i < n; i++)
		{
			int			sy = y + kdy[i];
			const uint8_t *row;
			double		k = kw[i];
			int			x0 = 0,
						x1 = w;

			sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
			row = src + (size_t) sy * w * c;
			/* the interior run needs no clamping */
			if (kdx[i] < 0)
				x0 = -kdx[i] < w ? -kdx[i] : w;
			else
				x1 = w - kdx[i] > 0 ? w - kdx[i] : 0;
			for (int x = 0; x < x0; x++)
				for (int ch = 0; ch < c; ch++)
					acc[x * c + ch] += k * row[ch];
			{
				const uint8_t *r2 = row + (ptrdiff_t) kdx[i] * c;

				for (int x = x0 * c; x < x1 * c; x++)
					acc[x] += k * r2[x];
			}
			for (int x = x1; x < w; x++)
				for (int ch = 0; ch < c; ch++)
					acc[x * c + ch] += k * row[(size_t) (w - 1) * c + ch];
		}
		for (int x = 0; x < w * c; x++)
		{
			/* Q16 ClampToQuantum then ScaleQuantumToChar, as IM writes 8-bit PNG */
			double		q = acc[x] * 257.0 + 0.5;
			uint32_t	qi = q <= 0.0 ? 0 : q >= 65535.0 ? 65535 : (uint32_t) q;

			o[x] = (uint8_t) (((qi + 128u) - ((qi + 128u) >> 8)) >> 8);
		}
	}
done:
	if (xi)
		sp_free(env, xi);
	if (acc)
		sp_free(env, acc);
	return st;
}

/* ---- skimage HSV ------------------------------------------------------- */

void
sp_rgb_to_hsv(double r, double g, double b, double *h, double *s, double *v)
{
	double		mx = r > g ? r : g,
				mn = r < g ? r : g,
				delta,
				hh = 0.0;

	mx = mx > b ? mx : b;
	mn = mn < b ? mn : b;
	delta = mx - mn;
	*v = mx;
	*s = delta == 0.0 ? 0.0 : delta / mx;
	if (delta == 0.0)
	{
		*h = 0.0;
		return;
	}
	/* skimage assigns red, then green, then blue: the last match wins */
	if (b == mx)
		hh = 4.0 + (r - g) / delta;
	else if (g == mx)
		hh = 2.0 + (b - r) / delta;
	else
		hh = (g - b) / delta;
	hh /= 6.0;
	hh = fmod(hh, 1.0);
	if (hh < 0.0)
		hh += 1.0;				/* numpy % takes the sign of the divisor */
	if (hh >= 1.0)
		hh = 0.0;
	*h = hh;
}

void
sp_hsv_to_rgb(double h, double s, double v, double *r, double *g, double *b)
{
	double		hi = floor(h * 6.0);
	double		f = h * 6.0 - hi;
	double		p = v * (1.0 - s);
	double		q = v * (1.0 - f * s);
	double		t = v * (1.0 - (1.0 - f) * s);
	int			sel = ((int) hi % 6 + 6) % 6;

	switch (sel)
	{
		case 0:
			*r = v, *g = t, *b = p;
			break;
		case 1:
			*r = q, *g = v, *b = p;
			break;
		case 2:
			*r = p, *g = v, *b = t;
			break;
		case 3:
			*r = p, *g = q, *b = v;
			break;
		case 4:
			*r = t, *g = p, *b = v;
			break;
		default:
			*r = v, *g = p, *b = q;
			break;
	}
}

/* ---- plasma fractal ---------------------------------------------------- */

int
sp_next_pow2(int n)
{
	int			p = 1;

	while (p < n && p < (1 << 30))
		p <<= 1;
	return p;
}

sp_status
sp_plasma_fractal(const sp_env *env, sp_rng *rng, int mw, int mh, double decay, double *m,
				  sp_error *err)
{
	int			step = mw < mh ? mw : mh;
	double		wibble = 100.0,
				mn,
				mx;
	size_t		total = (size_t) mw * mh;

	if (mw < 2 || mh < 2 || (mw & (mw - 1)) != 0 || (mh & (mh - 1)) != 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "plasma map size %dx%d is not a power of two",
							mw, mh);
	/* the reference's single corner (0,0) = 0; a rectangle has several */
	for (int i = 0; i < mh; i += step)
		for (int j = 0; j < mw; j += step)
			m[(size_t) i * mw + j] = 0.0;
#define M(i, j) m[(size_t) (i) * mw + (j)]
	while (step >= 2)
	{
		int			ni = mh / step,
					nj = mw / step,
					hs = step / 2;

		if (sp_env_interrupted(env))
			return sp_set_error(err, SP_ERR_INTERRUPTED, "corruption interrupted");
		/* squares: centre = mean of the 4 corners + wibble */
		for (int i = 0; i < ni; i++)
			for (int j = 0; j < nj; j++)
			{
				int			i1 = (i + 1) % ni,
							j1 = (j + 1) % nj;
				double		s = M(i * step, j * step) + M(i1 * step, j * step) +
					M(i * step, j1 * step) + M(i1 * step, j1 * step);

				M(hs + i * step, hs + j * step) =
					s / 4.0 + wibble * sp_rng_uniform_range(rng, -wibble, wibble);
			}
		/* diamonds on the top edges: corners left/right, centres below/above */
		for (int i = 0; i < ni; i++)
			for (int j = 0; j < nj; j++)
			{
				int			im = (i + ni - 1) % ni,
							j1 = (j + 1) % nj;
				double		s = M(hs + i * step, hs + j * step) + M(hs + im * step, hs + j * step) +
					M(i * step, j * step) + M(i * step, j1 * step);

				M(i * step, hs + j * step) =
					s / 4.0 + wibble * sp_rng_uniform_range(rng, -wibble, wibble);
			}
		/* diamonds on the left edges: centres right/left, corners above/below */
		for (int i = 0; i < ni; i++)
			for (int j = 0; j < nj; j++)
			{
				int			jm = (j + nj - 1) % nj,
							i1 = (i + 1) % ni;
				double		s = M(hs + i * step, hs + j * step) + M(hs + i * step, hs + jm * step) +
					M(i * step, j * step) + M(i1 * step, j * step);

				M(hs + i * step, j * step) =
					s / 4.0 + wibble * sp_rng_uniform_range(rng, -wibble, wibble);
			}
		step /= 2;
		wibble /= decay;
	}
#undef M
	mn = mx = m[0];
	for (size_t i = 1; i < total; i++)
	{
		mn = m[i] < mn ? m[i] : mn;
		mx = m[i] > mx ? m[i] : mx;
	}
	for (size_t i = 0; i < total; i++)
		m[i] = mx > mn ? (m[i] - mn) / (mx - mn) : 0.0;
	return SP_OK;
}

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
