/*
 * corrupt_noise.c: gaussian_noise, shot_noise, impulse_noise and
 * speckle_noise.  Each works on x/255 in double per element and stores
 * clip(., 0, 1) * 255 truncated; the random draws run over the channels R,
 * G, B in turn, each row-major.  No float planes: every element is finished
 * as it is drawn.
 */
#include "robust/corrupt_int.h"

#include <math.h>

#define INTERRUPT_EVERY 65535

/* x + sigma * N(0,1) (additive) or x + x * sigma * N(0,1) (speckle). */
static sp_status
normal_noise(sp_corrupt_ctx *c, sp_image *out, int multiplicative)
{
	const double *lut = sp_corrupt_u8_unit();
	double		sigma = c->p[0];
	size_t		n = (size_t) c->w * c->h;
	uint8_t    *rgb;
	sp_status	st = sp_corrupt_out_begin(c, out, &rgb);

	if (st != SP_OK)
		return st;
	for (int k = 0; k < 3 && st == SP_OK; k++)
		for (size_t i = 0; i < n; i++)
		{
			double		x = lut[sp_corrupt_in_px(c, i, k)];
			double		z = sigma * sp_rng_normal(&c->rng);

			if ((i & INTERRUPT_EVERY) == 0 && sp_env_interrupted(c->env))
			{
				st = sp_set_error(c->err, SP_ERR_INTERRUPTED, "corruption interrupted");
				break;
			}
			rgb[3 * i + k] = sp_trunc_u8((multiplicative ? x + x * z : x + z) * 255.0);
		}
	return sp_corrupt_out_end(c, out, rgb, st);
}

sp_status
sp_corrupt_gaussian_noise(sp_corrupt_ctx *c, sp_image *out)
{
	return normal_noise(c, out, 0);
}

sp_status
sp_corrupt_speckle_noise(sp_corrupt_ctx *c, sp_image *out)
{
	return normal_noise(c, out, 1);
}

/*
 * Poisson(x*c)/c.  x takes only 256 values, so for lambda < 10 the CDF of
 * each value present is tabulated once and sampled by inversion (the same
 * k as sp_rng_poisson_inv: the smallest k with u < CDF(k)) with a guide
 * table; larger lambdas use PTRS.
 */
#define SHOT_TAB 72				/* > 10 + 12 sqrt(10) + 20 */
#define SHOT_GUIDE 32

sp_status
sp_corrupt_shot_noise(sp_corrupt_ctx *c, sp_image *out)
{
	double		cc = c->p[0];
	double		lam[256];
	double	   *cdf = NULL;		/* 256 x SHOT_TAB, built lazily */
	uint8_t		built[256] = {0};
	uint8_t		guide[256][SHOT_GUIDE];	/* smallest k with CDF(k) > g/32 */
	size_t		n = (size_t) c->w * c->h;
	uint8_t    *rgb;
	sp_status	st;

	cdf = sp_dalloc(c->env, (size_t) 256 * SHOT_TAB, c->err);
	if (!cdf)
		return SP_ERR_NOMEM;
	st = sp_corrupt_out_begin(c, out, &rgb);
	if (st != SP_OK)
	{
		sp_free(c->env, cdf);
		return st;
	}
	for (int v = 0; v < 256; v++)
		lam[v] = ((double) v / 255.0) * cc;
	for (int k = 0; k < 3 && st == SP_OK; k++)
		for (size_t i = 0; i < n; i++)
		{
			int			v = sp_corrupt_in_px(c, i, k);
			int64_t		draw;

			if ((i & INTERRUPT_EVERY) == 0 && sp_env_interrupted(c->env))
			{
				st = sp_set_error(c->err, SP_ERR_INTERRUPTED, "corruption interrupted");
				break;
			}
			if (v == 0 || !(lam[v] > 0.0))
				draw = 0;
			else if (lam[v] < 10.0)
			{
				double	   *t = cdf + (size_t) v * SHOT_TAB;
				double		u = sp_rng_uniform(&c->rng);
				int			kk;

				if (!built[v])
				{
					/* same recurrence as sp_rng_poisson_inv */
					double		pm = exp(-lam[v]),
								acc = pm;

					t[0] = acc;
					for (int j = 1; j < SHOT_TAB; j++)
					{
						pm *= lam[v] / (double) j;
						acc += pm;
						t[j] = acc;
					}
					built[v] = 1;
					for (int g = 0, j = 0; g < SHOT_GUIDE; g++)
					{
						while (j < SHOT_TAB - 1 && (double) g / SHOT_GUIDE >= t[j])
							j++;
						guide[v][g] = (uint8_t) j;
					}
				}
				/*
				 * smallest k with u < CDF(k): start from the guide entry
				 * for u's 1/32 bucket (Chen and Asau), so the walk is about
				 * one step instead of a branchy search
				 */
				kk = guide[v][(int) (u * SHOT_GUIDE)];
				while (kk < SHOT_TAB - 1 && u >= t[kk])
					kk++;
				draw = kk;
			}
			else
				draw = sp_rng_poisson(&c->rng, lam[v]);
			rgb[3 * i + k] = sp_trunc_u8((double) draw / cc * 255.0);
		}
	sp_free(c->env, cdf);
	return sp_corrupt_out_end(c, out, rgb, st);
}

/*
 * skimage random_noise(mode='s&p', amount=a): each element is flipped with
 * probability a, and a flipped element becomes salt (1) or pepper (0) with
 * probability 1/2.  One 64-bit draw per element: its top 53 bits decide the
 * flip (U < a) and its lowest bit salt versus pepper (independent bits).
 */
sp_status
sp_corrupt_impulse_noise(sp_corrupt_ctx *c, sp_image *out)
{
	const double *lut = sp_corrupt_u8_unit();
	double		amount = c->p[0];
	size_t		n = (size_t) c->w * c->h;
	uint8_t    *rgb;
	sp_status	st = sp_corrupt_out_begin(c, out, &rgb);

	if (st != SP_OK)
		return st;
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < n; i++)
		{
			uint64_t	r = sp_rng_next(&c->rng);

			if ((double) (r >> 11) * 0x1.0p-53 < amount)
				rgb[3 * i + k] = (r & 1) ? 255 : 0;
			else				/* the reference's clip(x/255)*255 truncated */
				rgb[3 * i + k] = sp_trunc_u8(lut[sp_corrupt_in_px(c, i, k)] * 255.0);
		}
	return sp_corrupt_out_end(c, out, rgb, st);
}
