/*
 * rng.h: the one seeded random generator of the core (xoshiro256**, seeded
 * through splitmix64) and its samplers.
 *
 * Why our own generator: corruptions must be reproducible from an explicit
 * seed (same image, corruption, severity and seed -> same bytes), independent
 * of any global state, thread or library version.  All samplers consume the
 * raw 64-bit stream in a fixed, documented way:
 *   uniform      53 high bits / 2^53, in [0, 1)
 *   uniform_int  Lemire's multiply-shift with rejection (no modulo bias)
 *   normal       Marsaglia polar method (pairs; the second value is cached)
 *   poisson      inversion by sequential search for lambda < 10,
 *                PTRS transformed rejection (Hoermann 1993) for lambda >= 10
 * normal and poisson use libm log/sqrt/lgamma: bit-identical on one platform
 * and libm; other libms may differ in the last ulp (see docs).
 */
#ifndef SP_RNG_H
#define SP_RNG_H

#include <stdint.h>

typedef struct sp_rng
{
	uint64_t	s[4];
	int			has_spare;		/* polar method produced a second normal */
	double		spare;
} sp_rng;

/*
 * The splitmix64 output function: a bijection on 64 bits with full
 * avalanche.  Hashes ids and seeds (report item seeds, the index's visited
 * set) as well as finishing each splitmix64 step.
 */
static inline uint64_t
sp_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* splitmix64's gamma: the state advances by it before each mix. */
#define SP_SPLITMIX64_GAMMA UINT64_C(0x9E3779B97F4A7C15)

/* splitmix64 step: advances *state and returns the next output. */
extern uint64_t sp_splitmix64(uint64_t *state);

/*
 * Uniform float in [-bound, bound) from the top 24 bits of one splitmix64
 * step (exactly representable before scaling).  The trainer's weight
 * initialisation; its sequence is part of what makes `make models`
 * reproduce the shipped weights bit for bit.
 */
extern float sp_splitmix64_symmetric(uint64_t *state, float bound);

/*
 * Seed from a user seed and a stream id (e.g. corruption id and severity):
 * different streams of one seed are statistically independent.
 */
extern void sp_rng_seed(sp_rng *rng, uint64_t seed, uint64_t stream);

extern uint64_t sp_rng_next(sp_rng *rng);
/* Uniform double in [0, 1). */
extern double sp_rng_uniform(sp_rng *rng);
/* Uniform double in [lo, hi). */
extern double sp_rng_uniform_range(sp_rng *rng, double lo, double hi);
/* Uniform integer in [0, n), n >= 1, unbiased. */
extern uint64_t sp_rng_uniform_int(sp_rng *rng, uint64_t n);
/* Uniform integer in [lo, hi) like numpy randint(lo, hi); requires lo < hi. */
extern int64_t sp_rng_randint(sp_rng *rng, int64_t lo, int64_t hi);
/* Standard normal N(0, 1). */
extern double sp_rng_normal(sp_rng *rng);
/* Poisson(lambda); lambda <= 0 gives 0. */
extern int64_t sp_rng_poisson(sp_rng *rng, double lambda);
/* Poisson for lambda < 10 with exp(-lambda) precomputed by the caller. */
extern int64_t sp_rng_poisson_inv(sp_rng *rng, double lambda, double exp_neg_lambda);

#endif							/* SP_RNG_H */
