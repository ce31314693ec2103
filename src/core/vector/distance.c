/*
 * distance.c: float32 distance kernels and their runtime ISA dispatch.
 *
 * Owns the scalar, AVX2+FMA and AVX-512F implementations of L2 squared, inner
 * product, cosine parts (dot and both squared norms in one pass) and squared
 * norm, the once-resolved active kernel table, and the double-returning
 * wrappers that the SQL layer uses.  See distance.h for the contract.  The
 * AVX2 and AVX-512 kernels are one template, distance_tmpl.h, instantiated
 * here per ISA with its vector type, loads and horizontal sum.
 *
 * All kernels accumulate in float across several independent lanes: that
 * keeps the FMA pipelines busy (one accumulator would serialise on FMA
 * latency) and, as a side effect, makes the rounding error grow with n/lanes
 * instead of n.  Tails are handled without reading past the end of the
 * inputs (AVX-512 masked loads, a zero-padded copy for AVX2), so the kernels
 * are safe on any length and alignment and clean under valgrind.
 */
#include "vector/distance.h"

#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SP_HAVE_X86_KERNELS 1
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------------
 * Scalar kernels: 8 float accumulators.
 * ------------------------------------------------------------------------ */

#define SCALAR_LANES 8

static float
scalar_l2sq(const float *a, const float *b, size_t n)
{
	float		acc[SCALAR_LANES] = {0};
	size_t		i = 0;
	float		s;

	for (; i + SCALAR_LANES <= n; i += SCALAR_LANES)
	{
		for (int k = 0; k < SCALAR_LANES; k++)
		{
			float		d = a[i + k] - b[i + k];

			acc[k] += d * d;
		}
	}
	for (int k = 0; i < n; i++, k++)
	{
		float		d = a[i] - b[i];

		acc[k] += d * d;
	}
	s = 0.0f;
	for (int k = 0; k < SCALAR_LANES; k++)
		s += acc[k];
	return s;
}

static float
scalar_dot(const float *a, const float *b, size_t n)
{
	float		acc[SCALAR_LANES] = {0};
	size_t		i = 0;
	float		s;

	for (; i + SCALAR_LANES <= n; i += SCALAR_LANES)
		for (int k = 0; k < SCALAR_LANES; k++)
			acc[k] += a[i + k] * b[i + k];
	for (int k = 0; i < n; i++, k++)
		acc[k] += a[i] * b[i];
	s = 0.0f;
	for (int k = 0; k < SCALAR_LANES; k++)
		s += acc[k];
	return s;
}

/* 4 lanes: three arrays of 8 would not fit the 16 SSE registers. */
#define SCALAR_COS_LANES 4

static void
scalar_cosine(const float *a, const float *b, size_t n, sp_cosine_parts *out)
{
	float		dot[SCALAR_COS_LANES] = {0};
	float		aa[SCALAR_COS_LANES] = {0};
	float		bb[SCALAR_COS_LANES] = {0};
	size_t		i = 0;

	for (; i + SCALAR_COS_LANES <= n; i += SCALAR_COS_LANES)
	{
		for (int k = 0; k < SCALAR_COS_LANES; k++)
		{
			float		x = a[i + k],
						y = b[i + k];

			dot[k] += x * y;
			aa[k] += x * x;
			bb[k] += y * y;
		}
	}
	for (int k = 0; i < n; i++, k++)
	{
		dot[k] += a[i] * b[i];
		aa[k] += a[i] * a[i];
		bb[k] += b[i] * b[i];
	}
	out->dot = out->norm_a2 = out->norm_b2 = 0.0f;
	for (int k = 0; k < SCALAR_COS_LANES; k++)
	{
		out->dot += dot[k];
		out->norm_a2 += aa[k];
		out->norm_b2 += bb[k];
	}
}

static float
scalar_normsq(const float *a, size_t n)
{
	return scalar_dot(a, a, n);
}

static const sp_distance_kernels scalar_kernels = {
	SP_ISA_SCALAR, "scalar", scalar_l2sq, scalar_dot, scalar_cosine, scalar_normsq
};

#ifdef SP_HAVE_X86_KERNELS

/* ------------------------------------------------------------------------
 * SIMD kernels: one instance of distance_tmpl.h per ISA.  Besides the vector
 * width, the instances differ in the horizontal sum and in how they load
 * the last partial vector: AVX2 from a zero-padded copy of the last < 8
 * elements, AVX-512 with one masked load (masked-off lanes are neither read
 * nor faulted on, and load as zero).
 * ------------------------------------------------------------------------ */

#define AVX2_TARGET __attribute__((target("avx2,fma")))

/* The rem (< 8) floats at p, zero-padded to a vector. */
AVX2_TARGET static inline __m256
load_tail_avx2(const float *p, size_t rem)
{
	float		buf[8] = {0};

	memcpy(buf, p, rem * sizeof(float));
	return _mm256_loadu_ps(buf);
}

AVX2_TARGET static inline float
hsum_avx2(__m256 v)
{
	__m128		lo = _mm256_castps256_ps128(v);
	__m128		hi = _mm256_extractf128_ps(v, 1);
	__m128		s = _mm_add_ps(lo, hi);
	__m128		sh = _mm_movehdup_ps(s);

	s = _mm_add_ps(s, sh);
	sh = _mm_movehl_ps(sh, s);
	s = _mm_add_ss(s, sh);
	return _mm_cvtss_f32(s);
}

#define T_SFX(name) name##_avx2
#define T_TARGET AVX2_TARGET
#define T_ISA SP_ISA_AVX2
#define T_NAME "avx2"
#define T_V __m256
#define T_VL 8
#define T_ZERO() _mm256_setzero_ps()
#define T_LOAD(p) _mm256_loadu_ps(p)
#define T_LOAD_TAIL(p, rem) load_tail_avx2((p), (rem))
#define T_ADD(a, b) _mm256_add_ps((a), (b))
#define T_SUB(a, b) _mm256_sub_ps((a), (b))
#define T_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define T_HSUM(v) hsum_avx2(v)
#include "vector/distance_tmpl.h"	/* #undefs the T_* macros at its end */

#define AVX512_TARGET __attribute__((target("avx512f,avx2,fma")))

/* Lanes 0 .. rem - 1 of a 16-lane mask (rem < 16). */
AVX512_TARGET static inline __mmask16
tail_mask(size_t rem)
{
	return (__mmask16) ((1u << rem) - 1u);
}

#define T_SFX(name) name##_avx512
#define T_TARGET AVX512_TARGET
#define T_ISA SP_ISA_AVX512
#define T_NAME "avx512"
#define T_V __m512
#define T_VL 16
#define T_ZERO() _mm512_setzero_ps()
#define T_LOAD(p) _mm512_loadu_ps(p)
#define T_LOAD_TAIL(p, rem) _mm512_maskz_loadu_ps(tail_mask(rem), (p))
#define T_ADD(a, b) _mm512_add_ps((a), (b))
#define T_SUB(a, b) _mm512_sub_ps((a), (b))
#define T_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define T_HSUM(v) _mm512_reduce_add_ps(v)
#include "vector/distance_tmpl.h"	/* #undefs the T_* macros at its end */

#endif							/* SP_HAVE_X86_KERNELS */

/* ------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------ */

static const sp_distance_kernels *const all_kernels[SP_ISA_COUNT] = {
	&scalar_kernels,
#ifdef SP_HAVE_X86_KERNELS
	&kernels_avx2,
	&kernels_avx512,
#else
	NULL,
	NULL,
#endif
};

/* Cached choice; written once at resolution (or by set_isa). */
static const sp_distance_kernels *active_kernels;

const sp_distance_kernels *
sp_distance_kernels_for(sp_isa isa)
{
	if (isa < 0 || isa >= SP_ISA_COUNT || !all_kernels[isa])
		return NULL;
	return sp_cpu_supports(isa) ? all_kernels[isa] : NULL;
}

static const sp_distance_kernels *
best_kernels(void)
{
	for (int isa = SP_ISA_COUNT - 1; isa > SP_ISA_SCALAR; isa--)
	{
		const sp_distance_kernels *k = sp_distance_kernels_for((sp_isa) isa);

		if (k)
			return k;
	}
	return &scalar_kernels;
}

static const sp_distance_kernels *
resolve_kernels(void)
{
	const sp_distance_kernels *k = best_kernels();

	__atomic_store_n(&active_kernels, k, __ATOMIC_RELEASE);
	return k;
}

const sp_distance_kernels *
sp_distance_active(void)
{
	const sp_distance_kernels *k = __atomic_load_n(&active_kernels, __ATOMIC_ACQUIRE);

	if (__builtin_expect(k == NULL, 0))
		k = resolve_kernels();
	return k;
}

sp_status
sp_distance_set_isa(sp_isa isa, sp_error *err)
{
	const sp_distance_kernels *k;

	if (isa == SP_ISA_AUTO)
		k = best_kernels();
	else if (isa < 0 || isa >= SP_ISA_COUNT)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "unknown distance ISA %d", (int) isa);
	else
	{
		k = sp_distance_kernels_for(isa);
		if (!k)
		{
			sp_set_error(err, SP_ERR_UNSUPPORTED,
						 "distance kernels \"%s\" are not supported on this CPU",
						 sp_isa_name(isa));
			sp_error_hint(err, "The best supported kernels here are \"%s\".",
						  best_kernels()->name);
			return SP_ERR_UNSUPPORTED;
		}
	}
	__atomic_store_n(&active_kernels, k, __ATOMIC_RELEASE);
	return SP_OK;
}

const char *
sp_distance_isa_name(void)
{
	return sp_distance_active()->name;
}

/* ------------------------------------------------------------------------
 * Double-precision references
 * ------------------------------------------------------------------------ */

double
sp_dist_l2sq_ref(const float *a, const float *b, size_t n)
{
	double		s = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		d = (double) a[i] - (double) b[i];

		s += d * d;
	}
	return s;
}

double
sp_dist_dot_ref(const float *a, const float *b, size_t n)
{
	double		s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += (double) a[i] * (double) b[i];
	return s;
}

double
sp_dist_normsq_ref(const float *a, size_t n)
{
	return sp_dist_dot_ref(a, a, n);
}

/* 1 - dot / (|a| |b|), clamped; NaN for a zero vector. */
static double
cosine_from_parts(double dot, double na2, double nb2)
{
	double		sim;

	if (na2 == 0.0 || nb2 == 0.0)
		return NAN;
	/* one sqrt: exact when na2 * nb2 is a perfect square (e.g. a == b) */
	sim = dot / sqrt(na2 * nb2);
	/* rounding can push |sim| slightly past 1 */
	if (sim > 1.0)
		sim = 1.0;
	else if (sim < -1.0)
		sim = -1.0;
	return 1.0 - sim;
}

double
sp_dist_cosine_ref(const float *a, const float *b, size_t n)
{
	double		dot = 0.0,
				na2 = 0.0,
				nb2 = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		x = a[i],
					y = b[i];

		dot += x * y;
		na2 += x * x;
		nb2 += y * y;
	}
	return cosine_from_parts(dot, na2, nb2);
}

/* ------------------------------------------------------------------------
 * Robust wrappers: use the float kernel unless its result is zero,
 * subnormal or non-finite, where underflow or overflow may have happened;
 * then redo the sum in double (which cannot overflow for finite floats and
 * n <= 2^31).
 * ------------------------------------------------------------------------ */

static inline int
float_is_normal_mag(float v)
{
	float		m = fabsf(v);

	return m >= FLT_MIN && m <= FLT_MAX;
}

double
sp_dist_l2sq(const float *a, const float *b, size_t n)
{
	float		r = sp_distance_active()->l2sq(a, b, n);

	if (__builtin_expect(float_is_normal_mag(r), 1))
		return r;
	return sp_dist_l2sq_ref(a, b, n);
}

double
sp_dist_dot(const float *a, const float *b, size_t n)
{
	float		r = sp_distance_active()->dot(a, b, n);

	if (__builtin_expect(float_is_normal_mag(r), 1))
		return r;
	return sp_dist_dot_ref(a, b, n);
}

double
sp_dist_normsq(const float *a, size_t n)
{
	float		r = sp_distance_active()->normsq(a, n);

	if (__builtin_expect(float_is_normal_mag(r), 1))
		return r;
	return sp_dist_normsq_ref(a, n);
}

double
sp_dist_cosine(const float *a, const float *b, size_t n)
{
	sp_cosine_parts p;

	sp_distance_active()->cosine(a, b, n, &p);
	if (__builtin_expect(float_is_normal_mag(p.norm_a2) &&
						 float_is_normal_mag(p.norm_b2) &&
						 isfinite(p.dot), 1))
		return cosine_from_parts(p.dot, p.norm_a2, p.norm_b2);
	return sp_dist_cosine_ref(a, b, n);
}

/* ------------------------------------------------------------------------
 * Distance kinds
 * ------------------------------------------------------------------------ */

const char *
sp_distance_kind_name(sp_distance_kind kind)
{
	switch (kind)
	{
		case SP_DISTANCE_L2:
			return "l2";
		case SP_DISTANCE_COSINE:
			return "cosine";
		case SP_DISTANCE_IP:
			return "inner_product";
	}
	return "unknown";
}

int
sp_distance_kind_from_name(const char *name)
{
	for (int k = SP_DISTANCE_L2; k <= SP_DISTANCE_IP; k++)
		if (name && strcmp(name, sp_distance_kind_name((sp_distance_kind) k)) == 0)
			return k;
	return -1;
}

double
sp_dist(sp_distance_kind kind, const float *a, const float *b, size_t n)
{
	switch (kind)
	{
		case SP_DISTANCE_L2:
			return sqrt(sp_dist_l2sq(a, b, n));
		case SP_DISTANCE_COSINE:
			return sp_dist_cosine(a, b, n);
		case SP_DISTANCE_IP:
			return -sp_dist_dot(a, b, n);
	}
	return NAN;
}

double
sp_dist_rank(sp_distance_kind kind, const float *a, const float *b, size_t n)
{
	double		d = kind == SP_DISTANCE_L2 ? sp_dist_l2sq(a, b, n) : sp_dist(kind, a, b, n);

	return isnan(d) ? INFINITY : d;
}

void
sp_softmin(const double *dist, size_t n, double temperature, double *p)
{
	double		dmin = INFINITY,
				sum = 0;
	bool		any = false;

	for (size_t i = 0; i < n; i++)
		if (!isnan(dist[i]) && (!any || dist[i] < dmin))
		{
			dmin = dist[i];
			any = true;
		}
	for (size_t i = 0; i < n; i++)
	{
		double		d = dist[i];

		if (!any)
			p[i] = NAN;
		else if (isnan(d))
			p[i] = 0;
		else if (d == dmin)
			p[i] = 1;			/* also when dmin is infinite */
		else
			p[i] = exp(-((d - dmin) / temperature));	/* in [0, 1): 0 below the range */
		if (any)
			sum += p[i];
	}
	/* sum >= 1: the smallest distance contributes 1 */
	if (any)
		for (size_t i = 0; i < n; i++)
			p[i] /= sum;
}
