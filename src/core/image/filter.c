/*
 * filter.c: Gaussian, separable, 2-D and motion-blur filters (see filter.h).
 *
 * Performance notes: filters run as row-wise "axpy" loops over contiguous
 * memory (out_row += w * in_row) so the compiler can vectorise them; the
 * column pass of a separable filter walks rows, not columns.  No filter
 * allocates per pixel.
 */
#include "image/filter.h"

#include <math.h>
#include <string.h>

#define INTERRUPT_CHECK(env, err) \
	do { if (sp_env_interrupted(env)) { \
		st = sp_set_error((err), SP_ERR_INTERRUPTED, "corruption interrupted"); goto done; } } while (0)

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
			/*
			 * As ImageMagick 6.9.11 Q16 (the reference's, through Wand) gives
			 * it: ClampToQuantum rounds to the 16-bit quantum, and the 8-bit
			 * PNG it writes holds quantum / 257 truncated.  Checked against
			 * convert-im6.q16 -motion-blur: identical on every sample (RGB
			 * and gray, radii 3-20, test_corrupt_values.c pins two cases);
			 * rounding the last step instead was 1 too high on half of them.
			 */
			double		q = acc[x] * 257.0 + 0.5;
			uint32_t	qi = q <= 0.0 ? 0 : q >= 65535.0 ? 65535 : (uint32_t) q;

			o[x] = (uint8_t) (qi / 257u);
		}
	}
done:
	if (xi)
		sp_free(env, xi);
	if (acc)
		sp_free(env, acc);
	return st;
}
