/*
 * corrupt_blur.c: defocus_blur, glass_blur, motion_blur, zoom_blur and
 * gaussian_blur.
 */
#include "robust/corrupt_int.h"
#include "image/filter.h"
#include "image/resample.h"

#include <math.h>
#include <string.h>

/* ---- defocus_blur ------------------------------------------------------- */

/*
 * The reference's disk(): aliased disk X^2+Y^2 <= r^2 on the grid -8..8
 * (r <= 8) or -r..r, normalised, then cv2.GaussianBlur(3x3, or 5x5 when
 * r > 8, sigma alias_blur, border reflect-101), all in float32.
 */
int
sp_corrupt_defocus_kernel(const sp_env *env, double radius, double alias_blur, double **kout,
						  sp_error *err)
{
	double		lo = radius <= 8 ? -8.0 : -radius;
	int			n = radius <= 8 ? 17 : (int) ceil(2.0 * radius + 1.0);
	int			ks = radius <= 8 ? 3 : 5;
	double	   *k,
				g[5],
				sum = 0.0,
				gs = 0.0;

	*kout = NULL;
	k = sp_dalloc(env, (size_t) n * n, err);
	if (!k)
		return -1;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
		{
			double		y = lo + i,
						x = lo + j;

			k[i * n + j] = (x * x + y * y <= radius * radius) ? 1.0 : 0.0;
			sum += k[i * n + j];
		}
	for (int i = 0; i < n * n; i++)
		k[i] = (double) (float) (k[i] / sum);
	/* cv2.getGaussianKernel(ks, sigma) */
	for (int i = 0; i < ks; i++)
	{
		double		x = i - (ks - 1) / 2.0;

		g[i] = exp(-x * x / (2.0 * alias_blur * alias_blur));
		gs += g[i];
	}
	for (int i = 0; i < ks; i++)
		g[i] /= gs;
	if (sp_sep_filter(env, k, n, n, g, ks / 2, g, ks / 2, SP_BORDER_REFLECT101, err) != SP_OK)
	{
		sp_free(env, k);
		return -1;
	}
	for (int i = 0; i < n * n; i++)
		k[i] = (double) (float) k[i];
	*kout = k;
	return n;
}

/*
 * Fast exact path: when the blurred disk fits inside the kernel grid (no
 * reflection at the kernel's border, i.e. radius < 8 on the 17x17 grid),
 * the kernel is the full convolution G * D, so filter2D(x, G * D) =
 * G * (D * ext(x)) on the reflect-101 extension.  The disk part is a sum of
 * horizontal runs, taken from row prefix sums: 2(2r+1) operations per pixel
 * instead of ~(2r+3)^2 multiply-adds.
 */
static sp_status
defocus_fast(sp_corrupt_ctx *c, uint8_t *rgb, double radius, double alias_blur)
{
	const sp_env *env = c->env;
	const double *lut = sp_corrupt_u8_unit();
	int			w = c->w,
				h = c->h;
	int			rd = (int) floor(radius);
	int			R = rd + 1;		/* disk run + 3x3 Gaussian reach */
	int			ew = w + 2 * R,
				eh = h + 2 * R;
	int			half[64];
	long		count = 0;
	double		wd,
				gk[3],
				gs = 0.0;
	double	   *P = NULL,
			   *A = NULL;
	long	   *xm = NULL;
	sp_status	st = SP_OK;

	for (int dy = -rd; dy <= rd; dy++)
	{
		int			a = (int) floor(sqrt(radius * radius - (double) dy * dy));

		/* exact integer test X^2 + Y^2 <= r^2, whatever sqrt rounds to */
		while ((double) (a + 1) * (a + 1) + (double) dy * dy <= radius * radius)
			a++;
		while (a > 0 && (double) a * a + (double) dy * dy > radius * radius)
			a--;
		half[dy + rd] = a;
		count += 2 * a + 1;
	}
	wd = (double) (float) (1.0 / (double) count);
	for (int i = 0; i < 3; i++)
	{
		double		x = i - 1.0;

		gk[i] = exp(-x * x / (2.0 * alias_blur * alias_blur));
		gs += gk[i];
	}
	for (int i = 0; i < 3; i++)
		gk[i] /= gs;
	P = sp_dalloc(env, (size_t) eh * (ew + 1), c->err);
	A = sp_dalloc(env, (size_t) 3 * (w + 2), c->err);	/* ring of 3 rows */
	xm = sp_alloc_array(env, (size_t) ew, sizeof(long));
	if (!P || !A || !xm)
	{
		st = sp_set_error(c->err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int x = 0; x < ew; x++)
		xm[x] = sp_border_index(x - R, w, SP_BORDER_REFLECT101);
	for (int ch = 0; ch < 3; ch++)
	{
		if (sp_env_interrupted(env))
		{
			st = sp_set_error(c->err, SP_ERR_INTERRUPTED, "corruption interrupted");
			goto done;
		}
		/* prefix sums of the reflect-101 extended rows of x/255 */
		for (int y = 0; y < eh; y++)
		{
			size_t		row = (size_t) sp_border_index(y - R, h, SP_BORDER_REFLECT101) * w;
			double	   *p = P + (size_t) y * (ew + 1);

			p[0] = 0.0;
			for (int x = 0; x < ew; x++)
				p[x + 1] = p[x] + lut[sp_corrupt_in_px(c, row + xm[x], ch)];
		}
		/*
		 * A(y', .) = disk * ext(x) for y' = -1..h (ring slot (y'+1) % 3):
		 * each disk row adds a run sum P[x+a+1] - P[x-a], vectorised over x
		 */
		for (int ya = 0; ya < h + 2; ya++)
		{
			double	   *arow = A + (size_t) (ya % 3) * (w + 2);

			for (int x = 0; x < w + 2; x++)
				arow[x] = 0.0;
			for (int dy = -rd; dy <= rd; dy++)
			{
				const double *p = P + (size_t) (ya - 1 + dy + R) * (ew + 1);
				int			a = half[dy + rd];

				sp_axpy(arow, p + R + a, 1.0, w + 2);
				sp_axpy(arow, p + R - 1 - a, -1.0, w + 2);
			}
			for (int x = 0; x < w + 2; x++)
				arow[x] *= wd;
			if (ya < 2)
				continue;
			/* output row ya-2 from A rows ya-2, ya-1, ya (3x3 Gaussian) */
			{
				int			y = ya - 2;
				const double *a0 = A + (size_t) (y % 3) * (w + 2),
						   *a1 = A + (size_t) ((y + 1) % 3) * (w + 2),
						   *a2 = A + (size_t) ((y + 2) % 3) * (w + 2);

				for (int x = 0; x < w; x++)
				{
					double		s = gk[0] * (gk[0] * a0[x] + gk[1] * a0[x + 1] + gk[2] * a0[x + 2]) +
						gk[1] * (gk[0] * a1[x] + gk[1] * a1[x + 1] + gk[2] * a1[x + 2]) +
						gk[2] * (gk[0] * a2[x] + gk[1] * a2[x + 1] + gk[2] * a2[x + 2]);

					rgb[3 * ((size_t) y * w + x) + ch] = sp_trunc_u8(s * 255.0);
				}
			}
		}
	}
done:
	if (P)
		sp_free(env, P);
	if (A)
		sp_free(env, A);
	if (xm)
		sp_free(env, xm);
	return st;
}

sp_status
sp_corrupt_defocus_blur(sp_corrupt_ctx *c, sp_image *out)
{
	size_t		n = (size_t) c->w * c->h;
	double	   *k = NULL,
			   *src = NULL,
			   *dst = NULL;
	uint8_t    *rgb = NULL;
	int			kn;
	sp_status	st;

	st = sp_corrupt_out_begin(c, out, &rgb);
	if (st != SP_OK)
		return st;
	if (c->p[0] < 8.0)
	{
		st = defocus_fast(c, rgb, c->p[0], c->p[1]);
		return sp_corrupt_out_end(c, out, rgb, st);
	}
	src = sp_dalloc(c->env, n, c->err);
	kn = sp_corrupt_defocus_kernel(c->env, c->p[0], c->p[1], &k, c->err);
	dst = sp_dalloc(c->env, n, c->err);
	if (kn < 0 || !dst || !src)
		st = SP_ERR_NOMEM;
	for (int ch = 0; ch < 3 && st == SP_OK; ch++)
	{
		sp_corrupt_get_plane(c, ch, src);
		st = sp_filter2d(c->env, src, dst, c->w, c->h, k, kn, kn, SP_BORDER_REFLECT101, c->err);
		if (st == SP_OK)
			sp_corrupt_put_plane(c, rgb, ch, dst, 255.0);
	}
	st = sp_corrupt_out_end(c, out, rgb, st);
	if (k)
		sp_free(c->env, k);
	if (src)
		sp_free(c->env, src);
	if (dst)
		sp_free(c->env, dst);
	return st;
}

/* ---- gaussian_blur ------------------------------------------------------ */

/* skimage gaussian(sigma, mode 'nearest', truncate 4) per channel. */
sp_status
sp_corrupt_gaussian_blur(sp_corrupt_ctx *c, sp_image *out)
{
	double	   *pl = sp_dalloc(c->env, (size_t) c->w * c->h, c->err);
	uint8_t    *rgb;
	sp_status	st;

	if (!pl)
		return SP_ERR_NOMEM;
	st = sp_corrupt_out_begin(c, out, &rgb);
	for (int k = 0; k < 3 && st == SP_OK; k++)
	{
		sp_corrupt_get_plane(c, k, pl);
		st = sp_gaussian_filter(c->env, pl, c->w, c->h, c->p[0], 4.0, SP_BORDER_NEAREST, c->err);
		if (st == SP_OK)
			sp_corrupt_put_plane(c, rgb, k, pl, 255.0);
	}
	if (rgb)
		st = sp_corrupt_out_end(c, out, rgb, st);
	sp_free(c->env, pl);
	return st;
}

/* ---- glass_blur --------------------------------------------------------- */

/*
 * gaussian -> uint8 (truncate) -> iterations of local "swaps" -> gaussian.
 * The reference's tuple swap of two RGB pixels is a one-way copy
 * x[h,w] <- x[h+dy, w+dx] because numpy views alias.  The loops run from
 * H-delta down to delta+1 (rows) and W-delta down to delta+1 (columns) of
 * the actual image; dx then dy are randint(-delta, delta).
 */
sp_status
sp_corrupt_glass_blur(sp_corrupt_ctx *c, sp_image *out)
{
	double		sigma = c->p[0];
	int			delta = (int) c->p[1],
				iters = (int) c->p[2];
	int			w = c->w,
				h = c->h;
	size_t		n = (size_t) w * h;
	double	   *pl = NULL;
	uint8_t    *px = NULL,
			   *rgb = NULL;
	sp_status	st = SP_OK;

	pl = sp_dalloc(c->env, n, c->err);
	px = sp_alloc_array(c->env, n, 4);	/* RGB + pad, copied as one word */
	if (!pl || !px)
	{
		st = sp_set_error(c->err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int k = 0; k < 3 && st == SP_OK; k++)
	{
		sp_corrupt_get_plane(c, k, pl);
		st = sp_gaussian_filter(c->env, pl, w, h, sigma, 4.0, SP_BORDER_NEAREST, c->err);
		for (size_t i = 0; i < n; i++)
			px[4 * i + k] = sp_trunc_u8(pl[i] * 255.0);
	}
	if (st != SP_OK)
		goto done;
	for (size_t i = 0; i < n; i++)
		px[4 * i + 3] = 0;
	for (int it = 0; it < iters; it++)
	{
		uint64_t	span = (uint64_t) (2 * delta);

		for (int y = h - delta; y > delta; y--)
		{
			uint32_t   *row = (uint32_t *) (void *) px + (size_t) y * w;

			if ((y & 15) == 0 && sp_env_interrupted(c->env))
			{
				st = sp_set_error(c->err, SP_ERR_INTERRUPTED, "corruption interrupted");
				goto done;
			}
			for (int x = w - delta; x > delta; x--)
			{
				int			dx = (int) sp_rng_uniform_int(&c->rng, span) - delta;
				int			dy = (int) sp_rng_uniform_int(&c->rng, span) - delta;

				row[x] = row[(ptrdiff_t) dy * w + x + dx];
			}
		}
	}
	st = sp_corrupt_out_begin(c, out, &rgb);
	for (int k = 0; k < 3 && st == SP_OK; k++)
	{
		const double *lut = sp_corrupt_u8_unit();

		for (size_t i = 0; i < n; i++)
			pl[i] = lut[px[4 * i + k]];
		st = sp_gaussian_filter(c->env, pl, w, h, sigma, 4.0, SP_BORDER_NEAREST, c->err);
		if (st == SP_OK)
			sp_corrupt_put_plane(c, rgb, k, pl, 255.0);
	}
	if (rgb)
		st = sp_corrupt_out_end(c, out, rgb, st);
done:
	if (px)
		sp_free(c->env, px);
	if (pl)
		sp_free(c->env, pl);
	return st;
}

/* ---- motion_blur -------------------------------------------------------- */

/* ImageMagick motion blur on the uint8 RGB image, angle U(-45, 45). */
sp_status
sp_corrupt_motion_blur(sp_corrupt_ctx *c, sp_image *out)
{
	double		angle = sp_rng_uniform_range(&c->rng, -45.0, 45.0);
	uint8_t    *src,
			   *dst;
	sp_status	st;

	src = sp_image_to_rgb8(c->env, c->in, c->err);
	if (!src)
		return SP_ERR_NOMEM;
	dst = sp_alloc_array(c->env, (size_t) c->w * c->h, 3);
	if (!dst)
	{
		sp_free(c->env, src);
		return sp_set_error(c->err, SP_ERR_NOMEM, "out of memory");
	}
	st = sp_motion_blur_u8(c->env, src, dst, c->w, c->h, 3, (int) c->p[0], c->p[1], angle, c->err);
	if (st == SP_OK)
		st = sp_rgb8_to_image(c->env, dst, c->w, c->h, c->out_channels, out, c->err);
	sp_free(c->env, src);
	sp_free(c->env, dst);
	return st;
}

/* ---- zoom_blur ---------------------------------------------------------- */

/*
 * numpy arange(1, stop, step): length ceil((stop - 1) / step), values
 * 1 + i * ((1 + step) - 1) as numpy's fill computes them.  1.0 is included,
 * so the original image counts twice in the average.
 */
int
sp_corrupt_zoom_factors(sp_corrupt_profile profile, int severity, double *z, int max)
{
	static const double imnet[5][2] = {{1.11, .01}, {1.16, .01}, {1.21, .02}, {1.26, .02}, {1.31, .03}};
	static const double small[5][2] = {{1.06, .01}, {1.11, .01}, {1.16, .01}, {1.21, .01}, {1.26, .01}};
	const double *p;
	int			len;
	double		delta;

	if (severity < 1 || severity > 5)
		return 0;
	p = profile == SP_PROFILE_IMAGENET ? imnet[severity - 1] : small[severity - 1];
	len = (int) ceil((p[0] - 1.0) / p[1]);
	delta = (1.0 + p[1]) - 1.0;
	for (int i = 0; i < len && i < max; i++)
		z[i] = i == 0 ? 1.0 : 1.0 + (double) i * delta;
	return len;
}

sp_status
sp_corrupt_zoom_blur(sp_corrupt_ctx *c, sp_image *out)
{
	double		z[64];
	int			nz = sp_corrupt_zoom_factors(c->profile, c->severity, z, 64);
	size_t		n = (size_t) c->w * c->h;
	double	   *pl = NULL,
			   *acc = NULL;
	uint8_t    *rgb = NULL;
	sp_status	st = SP_OK;

	pl = sp_dalloc(c->env, n, c->err);
	acc = sp_dalloc(c->env, n, c->err);
	if (!pl || !acc)
	{
		st = SP_ERR_NOMEM;
		goto done;
	}
	st = sp_corrupt_out_begin(c, out, &rgb);
	for (int k = 0; k < 3 && st == SP_OK; k++)
	{
		sp_corrupt_get_plane(c, k, pl);
		for (int i = 0; i < nz && st == SP_OK; i++)
			st = sp_clipped_zoom(c->env, pl, acc, c->w, c->h, z[i], i > 0, c->err);
		if (st != SP_OK)
			break;
		for (size_t i = 0; i < n; i++)
			rgb[3 * i + k] = sp_trunc_u8((pl[i] + acc[i]) / (double) (nz + 1) * 255.0);
	}
	if (rgb)
		st = sp_corrupt_out_end(c, out, rgb, st);
done:
	if (pl)
		sp_free(c->env, pl);
	if (acc)
		sp_free(c->env, acc);
	return st;
}
