/*
 * distance.h: float32 distance kernels (L2 squared, inner product, cosine
 * parts, squared norm) with runtime ISA dispatch.
 *
 * Three kernel sets exist: a portable scalar one (multiple float accumulators
 * so it is still fast and its rounding resembles the vector ones), AVX2+FMA and
 * AVX-512F.  The best set the CPU (and OS) supports is resolved once, on first
 * use, and cached; sp_distance_set_isa() can force another one (tests,
 * benchmarks, and the backend's siamese.distance.isa setting).  The levels
 * themselves are util/cpu.h's.
 *
 * Two levels of API:
 *   - raw kernels (sp_distance_kernels) accumulate in float and return float.
 *     They are what a hot loop (index search) should call; the result can be
 *     inf when the true value exceeds FLT_MAX, or lose precision when the
 *     squares underflow.
 *   - sp_dist_* wrappers return double and fall back to a double-precision
 *     pass in the rare cases where the float result is not a normal finite
 *     number, so SQL-visible results never overflow for finite inputs and tiny
 *     vectors keep their precision.
 *
 * Kernels never allocate, never fail and accept any n (including 0) and any
 * alignment of a and b.
 */
#ifndef SP_DISTANCE_H
#define SP_DISTANCE_H

#include <stddef.h>

#include "util/cpu.h"
#include "util/sp_common.h"

/*
 * The distance kinds: one per operator class of the index, one per model
 * "distance", one per report metric.  The numbers are stored in index
 * metapages: never renumber them.
 */
typedef enum sp_distance_kind
{
	SP_DISTANCE_L2 = 1,			/* Euclidean (orderings may use its square) */
	SP_DISTANCE_COSINE = 2,		/* 1 - cos(a, b), in [0, 2]; NaN for a zero vector */
	SP_DISTANCE_IP = 3			/* negative inner product */
} sp_distance_kind;

#define SP_DISTANCE_KIND_VALID(k) ((k) >= SP_DISTANCE_L2 && (k) <= SP_DISTANCE_IP)

/* "l2", "cosine", "inner_product"; "unknown" otherwise. */
extern const char *sp_distance_kind_name(sp_distance_kind kind);
/* Parse those names (case-sensitive); -1 if unknown. */
extern int	sp_distance_kind_from_name(const char *name);

/* Dot product and both squared norms, computed in one pass. */
typedef struct sp_cosine_parts
{
	float		dot;
	float		norm_a2;
	float		norm_b2;
} sp_cosine_parts;

typedef struct sp_distance_kernels
{
	sp_isa		isa;
	const char *name;
	float		(*l2sq) (const float *a, const float *b, size_t n);
	float		(*dot) (const float *a, const float *b, size_t n);
	void		(*cosine) (const float *a, const float *b, size_t n, sp_cosine_parts *out);
	float		(*normsq) (const float *a, size_t n);
} sp_distance_kernels;

/* Kernel set for isa, or NULL when not compiled in or unsupported here. */
extern const sp_distance_kernels *sp_distance_kernels_for(sp_isa isa);

/* The active kernel set (resolves on first call). */
extern const sp_distance_kernels *sp_distance_active(void);

/*
 * Force a kernel set; SP_ISA_AUTO picks the best supported one.  Fails with
 * SP_ERR_UNSUPPORTED when the CPU lacks isa, SP_ERR_INVALID_ARG for junk.
 */
extern sp_status sp_distance_set_isa(sp_isa isa, sp_error *err);

/* Name of the active kernel set ("scalar", "avx2", "avx512"). */
extern const char *sp_distance_isa_name(void);

/* Robust double-returning wrappers over the active kernels (see above). */
extern double sp_dist_l2sq(const float *a, const float *b, size_t n);
extern double sp_dist_dot(const float *a, const float *b, size_t n);
extern double sp_dist_normsq(const float *a, size_t n);

/*
 * Cosine distance 1 - cos(a, b), clamped to [0, 2].  NaN when either vector
 * is all zeros (the angle is undefined).
 */
extern double sp_dist_cosine(const float *a, const float *b, size_t n);

/*
 * The distance of a kind as SQL shows it (<->, <=>, <#>, pair_distance):
 * Euclidean, cosine distance or negative inner product, through the robust
 * wrappers above.
 */
extern double sp_dist(sp_distance_kind kind, const float *a, const float *b, size_t n);

/*
 * The same order with less work, for ranking: squared Euclidean for L2,
 * otherwise as sp_dist.  NaN (a zero vector under cosine, NaN inputs) is
 * returned as +infinity so it ranks after everything.
 */
extern double sp_dist_rank(sp_distance_kind kind, const float *a, const float *b, size_t n);

/*
 * Probabilities softmax(-dist[i] / temperature) over n distances (the few-shot
 * classifier's), computed stably: the smallest distance gets weight 1 and the
 * others exp(-(d - dmin) / temperature), so a tiny temperature cannot overflow
 * and a weight below the double range is 0 (underflow is not an error).  A NaN
 * distance (a zero vector under cosine) gets probability 0; when every
 * distance is NaN, every probability is NaN.  temperature must be positive and
 * finite (the caller checks).  p may alias dist.
 */
extern void sp_softmin(const double *dist, size_t n, double temperature, double *p);

/* Plain double-precision references (used by the fallbacks and by tests). */
extern double sp_dist_l2sq_ref(const float *a, const float *b, size_t n);
extern double sp_dist_dot_ref(const float *a, const float *b, size_t n);
extern double sp_dist_normsq_ref(const float *a, size_t n);
extern double sp_dist_cosine_ref(const float *a, const float *b, size_t n);

#endif							/* SP_DISTANCE_H */
