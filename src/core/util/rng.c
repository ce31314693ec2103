/*
 * rng.c: xoshiro256** generator and samplers (see rng.h for the contract).
 */
#include "util/rng.h"

#include <math.h>

uint64_t
sp_splitmix64(uint64_t *state)
{
	return sp_mix64(*state += SP_SPLITMIX64_GAMMA);
}

float
sp_splitmix64_symmetric(uint64_t *state, float bound)
{
	double		u = (double) (sp_splitmix64(state) >> 40) / 16777216.0;

	return (float) ((2.0 * u - 1.0) * bound);
}

void
sp_rng_seed(sp_rng *rng, uint64_t seed, uint64_t stream)
{
	uint64_t	st = stream;
	uint64_t	mix;

	/* hash the stream id first so nearby ids give unrelated states */
	mix = sp_splitmix64(&st);
	st = seed ^ mix;
	for (int i = 0; i < 4; i++)
		rng->s[i] = sp_splitmix64(&st);
	/* xoshiro must not start from the all-zero state */
	if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0)
		rng->s[0] = 1;
	rng->has_spare = 0;
	rng->spare = 0.0;
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
sp_rng_next(sp_rng *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double
sp_rng_uniform(sp_rng *rng)
{
	return (double) (sp_rng_next(rng) >> 11) * 0x1.0p-53;
}

double
sp_rng_uniform_range(sp_rng *rng, double lo, double hi)
{
	return lo + (hi - lo) * sp_rng_uniform(rng);
}

uint64_t
sp_rng_uniform_int(sp_rng *rng, uint64_t n)
{
	/* Lemire 2019: multiply into 128 bits, reject the biased low zone */
	uint64_t	x;
	unsigned __int128 m;
	uint64_t	l;

	if (n <= 1)
		return 0;
	x = sp_rng_next(rng);
	m = (unsigned __int128) x * n;
	l = (uint64_t) m;
	if (l < n)
	{
		uint64_t	t = (0 - n) % n;

		while (l < t)
		{
			x = sp_rng_next(rng);
			m = (unsigned __int128) x * n;
			l = (uint64_t) m;
		}
	}
	return (uint64_t) (m >> 64);
}

int64_t
sp_rng_randint(sp_rng *rng, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t) sp_rng_uniform_int(rng, (uint64_t) (hi - lo));
}

double
sp_rng_normal(sp_rng *rng)
{
	double		u, v, s, f;

	if (rng->has_spare)
	{
		rng->has_spare = 0;
		return rng->spare;
	}
	do
	{
		u = 2.0 * sp_rng_uniform(rng) - 1.0;
		v = 2.0 * sp_rng_uniform(rng) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	f = sqrt(-2.0 * log(s) / s);
	rng->spare = v * f;
	rng->has_spare = 1;
	return u * f;
}

int64_t
sp_rng_poisson_inv(sp_rng *rng, double lambda, double exp_neg_lambda)
{
	/* inversion: smallest k with CDF(k) > u; expected lambda+1 steps */
	double		u = sp_rng_uniform(rng);
	double		p = exp_neg_lambda;
	double		cdf = p;
	int64_t		k = 0;

	while (u >= cdf && k < 1000)
	{
		k++;
		p *= lambda / (double) k;
		cdf += p;
		if (p == 0.0 && cdf <= u)
			break;				/* rounding left u above the total mass */
	}
	return k;
}

/* PTRS: transformed rejection with squeeze (Hoermann 1993), lambda >= 10. */
static int64_t
poisson_ptrs(sp_rng *rng, double lambda)
{
	double		slam = sqrt(lambda);
	double		loglam = log(lambda);
	double		b = 0.931 + 2.53 * slam;
	double		a = -0.059 + 0.02483 * b;
	double		invalpha = 1.1239 + 1.1328 / (b - 3.4);
	double		vr = 0.9277 - 3.6224 / (b - 2.0);

	for (;;)
	{
		double		U = sp_rng_uniform(rng) - 0.5;
		double		V = sp_rng_uniform(rng);
		double		us = 0.5 - fabs(U);
		double		kd = floor((2.0 * a / us + b) * U + lambda + 0.43);

		if (us >= 0.07 && V <= vr)
			return (int64_t) kd;
		if (kd < 0.0 || (us < 0.013 && V > us))
			continue;
		if (log(V) + log(invalpha) - log(a / (us * us) + b) <=
			-lambda + kd * loglam - lgamma(kd + 1.0))
			return (int64_t) kd;
	}
}

int64_t
sp_rng_poisson(sp_rng *rng, double lambda)
{
	if (!(lambda > 0.0))
		return 0;
	if (lambda < 10.0)
		return sp_rng_poisson_inv(rng, lambda, exp(-lambda));
	if (lambda > 1e15)
		lambda = 1e15;			/* keep the int64 result meaningful */
	return poisson_ptrs(rng, lambda);
}
