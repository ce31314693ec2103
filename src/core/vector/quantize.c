/*
 * quantize.c: the codes of quantize.h (bf16, sq8), their training, encoding
 * and decoding, and the asymmetric distance kernels (a float32 query against
 * a code) in a scalar and an AVX-512 set with run-time dispatch.
 *
 * The scalar kernels keep 8 float accumulators, like distance.c's, so their
 * rounding resembles the vector ones.  The AVX-512 kernels widen 16 codes
 * per step (bf16: zero-extend to 32 bits and shift into a float's upper
 * half, which is exactly bf16's meaning; sq8: zero-extend bytes and convert)
 * and multiply-add into one accumulator per lane; tails use masked loads, so
 * nothing past the end is read.
 */
#include "vector/quantize.h"

#include <math.h>
#include <string.h>

#include "vector/distance.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define SP_HAVE_X86_KERNELS 1
#include <immintrin.h>
#endif

static const char *const code_names[] = {"f32", "bf16", "sq8"};

const char *
sp_code_kind_name(sp_code_kind k)
{
	return (int) k >= 0 && (int) k < 3 ? code_names[k] : "unknown";
}

int
sp_code_kind_from_name(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, code_names[i]) == 0)
			return i;
	return -1;
}

size_t
sp_code_bytes(sp_code_kind k, size_t dim)
{
	return k == SP_CODE_BF16 ? 2 * dim : k == SP_CODE_SQ8 ? dim : 4 * dim;
}

/* ------------------------------------------------------------------------
 * bf16
 * ------------------------------------------------------------------------ */

static inline float
bf16_to_float(uint16_t c)
{
	uint32_t	u = (uint32_t) c << 16;
	float		f;

	memcpy(&f, &u, sizeof f);
	return f;
}

uint16_t
sp_bf16_round(float x)
{
	uint32_t	u;

	memcpy(&u, &x, sizeof u);
	if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0)
		return (uint16_t) ((u >> 16) | 0x0040u);	/* a NaN stays a (quiet) NaN */
	/* round to nearest, ties to even; a carry into the exponent is right (up to inf) */
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t) (u >> 16);
}

void
sp_bf16_encode(const float *x, size_t n, uint16_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = sp_bf16_round(x[i]);
}

void
sp_bf16_decode(const uint16_t *c, size_t n, float *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = bf16_to_float(c[i]);
}

/* ------------------------------------------------------------------------
 * sq8
 * ------------------------------------------------------------------------ */

void
sp_sq8_train(const float *x, size_t n, size_t dim, float *lo, float *step)
{
	for (size_t d = 0; d < dim; d++)
	{
		float		mn = INFINITY,
					mx = -INFINITY;

		for (size_t i = 0; i < n; i++)
		{
			float		v = x[i * dim + d];

			if (isfinite(v))
			{
				mn = v < mn ? v : mn;
				mx = v > mx ? v : mx;
			}
		}
		if (!(mn <= mx))
			mn = mx = 0.0f;		/* no finite sample value */
		lo[d] = mn;
		step[d] = (float) (((double) mx - mn) / 255.0);	/* finite: at most 2 * FLT_MAX / 255 */
	}
}

/*
 * The grid level of x on lo + step * k, k = 0 .. 255: NaN and values below
 * the range go to 0, above it to 255; a zero step (a constant) to 0.
 */
static inline uint8_t
sq8_level(float x, float lo, float step)
{
	double		v = step > 0 ? ((double) x - lo) / step : 0.0;

	return (uint8_t) (v >= 255.0 ? 255 : v > 0 ? (int) lrint(v) : 0);
}

void
sp_sq8_encode(const float *lo, const float *step, const float *x, size_t dim, uint8_t *code)
{
	for (size_t d = 0; d < dim; d++)
		code[d] = sq8_level(x[d], lo[d], step[d]);
}

void
sp_sq8_decode(const float *lo, const float *step, const uint8_t *code, size_t dim, float *out)
{
	for (size_t d = 0; d < dim; d++)
		out[d] = lo[d] + step[d] * (float) code[d];
}

void
sp_sq8_prepare(const float *lo, const float *step, const float *q, size_t dim, float *qs, float *d, float *bias)
{
	double		b = 0;

	for (size_t i = 0; i < dim; i++)
	{
		qs[i] = q[i] * step[i];
		d[i] = q[i] - lo[i];
		b += (double) q[i] * lo[i];
	}
	*bias = (float) b;
}

/* ------------------------------------------------------------------------
 * Scalar kernels: 8 accumulators.
 * ------------------------------------------------------------------------ */

#define LANES 8

static float
sum_lanes(const float *acc)
{
	return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/*
 * Each scalar kernel is one loop over blocks of LANES values into LANES
 * accumulators (which the compiler can keep in a vector register), then the
 * tail; TERM is the value added for element j.
 */
#define SCALAR_KERNEL(NAME, ARGS, TERM) \
static float \
NAME ARGS \
{ \
	float		acc[LANES] = {0}; \
	size_t		i = 0; \
\
	for (; i + LANES <= n; i += LANES) \
		for (size_t k = 0, j = i; k < LANES; k++, j++) \
			acc[k] += TERM; \
	for (size_t k = 0, j = i; j < n; k++, j++) \
		acc[k] += TERM; \
	return sum_lanes(acc); \
}

static inline float
sq(float t)
{
	return t * t;
}

SCALAR_KERNEL(scalar_bf16_dot, (const float *q, const uint16_t *c, size_t n), q[j] * bf16_to_float(c[j]))
SCALAR_KERNEL(scalar_bf16_l2sq, (const float *q, const uint16_t *c, size_t n), sq(q[j] - bf16_to_float(c[j])))
SCALAR_KERNEL(scalar_sq8_dot, (const float *qs, const uint8_t *c, size_t n), qs[j] * (float) c[j])
SCALAR_KERNEL(scalar_sq8_l2sq, (const float *d, const float *step, const uint8_t *c, size_t n),
			  sq(d[j] - step[j] * (float) c[j]))

static void
scalar_sq8_decode(float lo, float step, const uint8_t *c, size_t n, float *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = lo + step * (float) c[i];
}

static const sp_quant_kernels scalar_kernels = {
	"scalar", scalar_bf16_dot, scalar_bf16_l2sq, scalar_sq8_dot, scalar_sq8_l2sq, scalar_sq8_decode
};

/* ------------------------------------------------------------------------
 * AVX-512 kernels
 * ------------------------------------------------------------------------ */

#ifdef SP_HAVE_X86_KERNELS
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))

/* Lanes 0 .. rem - 1 of a 16-lane mask (rem <= 16). */
AVX512_TARGET static inline __mmask16
mask16(size_t rem)
{
	return rem >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << rem) - 1u);
}

/* 16 bf16 codes (masked) as floats */
AVX512_TARGET static inline __m512
load_bf16(const uint16_t *c, __mmask16 m)
{
	__m256i		h = _mm256_maskz_loadu_epi16(m, c);

	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 16 sq8 codes (masked) as floats */
AVX512_TARGET static inline __m512
load_sq8(const uint8_t *c, __mmask16 m)
{
	__m128i		b = _mm_maskz_loadu_epi8(m, c);

	return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b));
}

/* q . decode(c) for codes of type CT widened by LOAD(codes, mask): two accumulators, masked tail */
#define AVX512_DOT(NAME, CT, LOAD) \
AVX512_TARGET static float \
NAME(const float *q, const CT *c, size_t n) \
{ \
	__m512		a0 = _mm512_setzero_ps(), \
				a1 = _mm512_setzero_ps(); \
	size_t		i = 0; \
\
	for (; i + 32 <= n; i += 32) \
	{ \
		a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), LOAD(c + i, 0xffff), a0); \
		a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), LOAD(c + i + 16, 0xffff), a1); \
	} \
	for (; i < n; i += 16) \
	{ \
		__mmask16	m = mask16(n - i); \
\
		a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), LOAD(c + i, m), a0); \
	} \
	return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)); \
}

AVX512_DOT(avx512_bf16_dot, uint16_t, load_bf16)
AVX512_DOT(avx512_sq8_dot, uint8_t, load_sq8)

AVX512_TARGET static float
avx512_bf16_l2sq(const float *q, const uint16_t *c, size_t n)
{
	__m512		a0 = _mm512_setzero_ps(),
				a1 = _mm512_setzero_ps();
	size_t		i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m512		t0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), load_bf16(c + i, 0xffff));
		__m512		t1 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 16), load_bf16(c + i + 16, 0xffff));

		a0 = _mm512_fmadd_ps(t0, t0, a0);
		a1 = _mm512_fmadd_ps(t1, t1, a1);
	}
	for (; i < n; i += 16)
	{
		__mmask16	m = mask16(n - i);
		__m512		t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + i), load_bf16(c + i, m));

		a0 = _mm512_fmadd_ps(t, t, a0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512_TARGET static float
avx512_sq8_l2sq(const float *d, const float *step, const uint8_t *c, size_t n)
{
	__m512		a0 = _mm512_setzero_ps(),
				a1 = _mm512_setzero_ps();
	size_t		i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m512		t0 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i), load_sq8(c + i, 0xffff), _mm512_loadu_ps(d + i));
		__m512		t1 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i + 16), load_sq8(c + i + 16, 0xffff),
										  _mm512_loadu_ps(d + i + 16));

		a0 = _mm512_fmadd_ps(t0, t0, a0);
		a1 = _mm512_fmadd_ps(t1, t1, a1);
	}
	for (; i < n; i += 16)
	{
		__mmask16	m = mask16(n - i);
		__m512		t = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m, step + i), load_sq8(c + i, m),
										 _mm512_maskz_loadu_ps(m, d + i));

		a0 = _mm512_fmadd_ps(t, t, a0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/* lo + step * c in one fused rounding (the scalar decode rounds twice: within an ulp of it) */
AVX512_TARGET static void
avx512_sq8_decode(float lo, float step, const uint8_t *c, size_t n, float *out)
{
	__m512		vlo = _mm512_set1_ps(lo),
				vstep = _mm512_set1_ps(step);

	for (size_t i = 0; i < n; i += 16)
	{
		__mmask16	m = mask16(n - i);

		_mm512_mask_storeu_ps(out + i, m, _mm512_fmadd_ps(vstep, load_sq8(c + i, m), vlo));
	}
}

static const sp_quant_kernels avx512_kernels = {
	"avx512", avx512_bf16_dot, avx512_bf16_l2sq, avx512_sq8_dot, avx512_sq8_l2sq, avx512_sq8_decode
};
#endif

/* ------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------ */

const sp_quant_kernels *
sp_quant_kernels_for(sp_isa isa)
{
	if (isa == SP_ISA_SCALAR)
		return &scalar_kernels;
#ifdef SP_HAVE_X86_KERNELS
	/* the byte and word masked loads are AVX-512BW + VL: every AVX-512 CPU since Skylake-SP has them */
	if (isa == SP_ISA_AVX512 && sp_cpu_supports(SP_ISA_AVX512) && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512vl"))
		return &avx512_kernels;
#endif
	return NULL;
}

const sp_quant_kernels *
sp_quant_active(void)
{
	static const sp_quant_kernels *active;
	const sp_quant_kernels *k = __atomic_load_n(&active, __ATOMIC_ACQUIRE);

	if (__builtin_expect(k == NULL, 0))
	{
		k = sp_quant_kernels_for(SP_ISA_AVX512);
		if (!k)
			k = &scalar_kernels;
		__atomic_store_n(&active, k, __ATOMIC_RELEASE);
	}
	return k;
}

/* ------------------------------------------------------------------------
 * Stored codes (quantize.h's sp_vcode_*)
 * ------------------------------------------------------------------------ */

/* Header of a bf16 or sq8 stored code; bf16 uses err and mag only. */
typedef struct vcode_head
{
	float		err;
	float		mag;
	float		lo;
	float		step;
	float		norm2;
} vcode_head;

#define BF16_HEAD	(2 * sizeof(float))
#define SQ8_HEAD	sizeof(vcode_head)

static inline size_t
round4(size_t n)
{
	return (n + 3) & ~(size_t) 3;
}

size_t
sp_vcode_bytes(sp_code_kind k, size_t dim)
{
	switch (k)
	{
		case SP_CODE_BF16:
			return round4(BF16_HEAD + 2 * dim);
		case SP_CODE_SQ8:
			return round4(SQ8_HEAD + dim);
		default:
			return 4 * dim;
	}
}

/* A non-negative double as a float never below it. */
static float
float_up(double v)
{
	float		f = (float) v;

	return (double) f < v ? nextafterf(f, INFINITY) : f;
}

/* The largest finite bf16 value, 0x7f7f as a float. */
#define BF16_MAX	3.38953139e38f

void
sp_vcode_encode(sp_code_kind k, const float *x, size_t dim, void *code)
{
	vcode_head	h = {0};
	double		err2 = 0,
				mag2 = 0;

	if (k == SP_CODE_BF16)
	{
		uint16_t   *c = (uint16_t *) ((char *) code + BF16_HEAD);

		for (size_t i = 0; i < dim; i++)
		{
			float		v = x[i] > BF16_MAX ? BF16_MAX : x[i] < -BF16_MAX ? -BF16_MAX : x[i];
			double		d;

			/* clamped first: FLT_MAX would round to inf */
			c[i] = sp_bf16_round(v);
			d = (double) x[i] - bf16_to_float(c[i]);
			err2 += d * d;
			mag2 += (double) bf16_to_float(c[i]) * bf16_to_float(c[i]);
		}
		if (dim % 2)
			c[dim] = 0;
		h.err = float_up(sqrt(err2) * (1 + 1e-12));
		h.mag = float_up(sqrt(mag2) * (1 + 1e-12));
		memcpy(code, &h, BF16_HEAD);
	}
	else if (k == SP_CODE_SQ8)
	{
		uint8_t    *c = (uint8_t *) code + SQ8_HEAD;
		float		mn = dim ? x[0] : 0,
					mx = mn;
		double		csq = 0,
					n2 = 0;

		for (size_t i = 1; i < dim; i++)
		{
			mn = x[i] < mn ? x[i] : mn;
			mx = x[i] > mx ? x[i] : mx;
		}
		h.lo = mn;
		h.step = (float) (((double) mx - mn) / 255.0);
		for (size_t i = 0; i < dim; i++)
		{
			double		dec,
						d;

			c[i] = sq8_level(x[i], h.lo, h.step);
			dec = (double) h.lo + (double) h.step * c[i];
			d = (double) x[i] - dec;
			err2 += d * d;
			csq += (double) c[i] * c[i];
			n2 += dec * dec;
		}
		for (size_t i = dim; i < round4(dim); i++)
			c[i] = 0;
		h.err = float_up(sqrt(err2) * (1 + 1e-12));
		h.mag = float_up((sqrt((double) dim) * fabs((double) h.lo) + (double) h.step * sqrt(csq)) * (1 + 1e-12));
		h.norm2 = (float) n2;
		memcpy(code, &h, SQ8_HEAD);
	}
	else
		memcpy(code, x, 4 * dim);
}

void
sp_vcode_decode(sp_code_kind k, const void *code, size_t dim, float *out)
{
	vcode_head	h;

	if (k == SP_CODE_BF16)
		sp_bf16_decode((const uint16_t *) ((const char *) code + BF16_HEAD), dim, out);
	else if (k == SP_CODE_SQ8)
	{
		const uint8_t *c = (const uint8_t *) code + SQ8_HEAD;

		/* through the kernels: inserts and VACUUM decode every candidate */
		memcpy(&h, code, SQ8_HEAD);
		sp_quant_active()->sq8_decode(h.lo, h.step, c, dim, out);
	}
	else
		memcpy(out, code, 4 * dim);
}

void
sp_vcode_bounds(sp_code_kind k, const void *code, size_t dim, float *err, float *mag)
{
	if (k == SP_CODE_BF16 || k == SP_CODE_SQ8)
	{
		memcpy(err, code, sizeof(float));
		memcpy(mag, (const char *) code + sizeof(float), sizeof(float));
	}
	else
	{
		*err = 0;
		*mag = float_up(sqrt(sp_dist_normsq((const float *) code, dim)) * (1 + 1e-6));
	}
}

void
sp_vcode_query_stats(const float *q, size_t dim, float *qsum, float *qnorm2)
{
	float		s[LANES] = {0},
				n2[LANES] = {0};
	size_t		i = 0;

	for (; i + LANES <= dim; i += LANES)
		for (size_t k = 0; k < LANES; k++)
		{
			s[k] += q[i + k];
			n2[k] += q[i + k] * q[i + k];
		}
	for (size_t k = 0; i < dim; i++, k++)
	{
		s[k] += q[i];
		n2[k] += q[i] * q[i];
	}
	*qsum = sum_lanes(s);
	*qnorm2 = sum_lanes(n2);
}

float
sp_vcode_dot(const sp_quant_kernels *qk, sp_code_kind k, const float *q, float qsum, const void *code, size_t dim)
{
	if (k == SP_CODE_BF16)
		return qk->bf16_dot(q, (const uint16_t *) ((const char *) code + BF16_HEAD), dim);
	if (k == SP_CODE_SQ8)
	{
		vcode_head	h;

		memcpy(&h, code, SQ8_HEAD);
		return h.lo * qsum + h.step * qk->sq8_dot(q, (const uint8_t *) code + SQ8_HEAD, dim);
	}
	return sp_distance_active()->dot(q, (const float *) code, dim);
}

float
sp_vcode_l2sq(const sp_quant_kernels *qk, sp_code_kind k, const float *q, float qsum, float qnorm2,
			  const void *code, size_t dim)
{
	if (k == SP_CODE_BF16)
		return qk->bf16_l2sq(q, (const uint16_t *) ((const char *) code + BF16_HEAD), dim);
	if (k == SP_CODE_SQ8)
	{
		vcode_head	h;
		float		d;

		/* |q|^2 - 2 q.x' + |x'|^2: x' is an affine image of the codes */
		memcpy(&h, code, SQ8_HEAD);
		d = qnorm2 - 2.0f * sp_vcode_dot(qk, k, q, qsum, code, dim) + h.norm2;
		return d > 0 ? d : 0.0f;
	}
	return sp_distance_active()->l2sq(q, (const float *) code, dim);
}

/*
 * The rounding allowance: a float sum of n products computed in blocks
 * errs by at most about (n / lanes + log2 lanes) units of 2^-24 of the sum
 * of the terms' magnitudes; (dim + 64) 2^-23 covers every kernel set here
 * and in distance.h with room to spare.
 */
double
sp_vcode_lower_bound(int kind, double approx, double err, double mag, double qnorm, size_t dim)
{
	double		gamma = ((double) dim + 64.0) * 0x1p-23;
	double		lb;

	if (!isfinite(approx) || !isfinite(err) || !isfinite(mag) || !isfinite(qnorm))
		return kind == SP_DISTANCE_IP ? -INFINITY : 0.0;
	switch (kind)
	{
		case SP_DISTANCE_L2:
			{
				/* |q - x'|^2 >= approx - gamma (|q| + mag + err)^2; |q - x| >= |q - x'| - err */
				double		e = qnorm + mag + err;
				double		d2 = approx - gamma * e * e - 1e-30;

				lb = (d2 > 0 ? sqrt(d2) : 0.0) - err;
				/* SQL's own float kernel may come out lower by gamma, relatively */
				lb = lb > 0 ? lb * (1.0 - gamma) : 0.0;
				break;
			}
		case SP_DISTANCE_COSINE:
			/* q.x <= q.x' + |q| err; both dots round by gamma |q| mag; normalising, 1e-6 */
			lb = approx - qnorm * err - 2.0 * gamma * qnorm * (mag + err) - 4.0 * gamma - 1e-6;
			lb = lb < 0 ? 0.0 : lb > 2.0 ? 2.0 : lb;
			break;
		default:
			lb = approx - qnorm * err - 2.0 * gamma * qnorm * (mag + err) - 1e-30;
			break;
	}
	/* the double arithmetic above */
	return lb - 1e-12 * fabs(lb);
}
