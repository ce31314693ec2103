/*
 * vmath.h: vector math shared by the ops' AVX2 kernels (nn/ops/): exp of
 * non-positive arguments (Cephes' expf polynomial, within 2 ulp; 0 below
 * ln(FLT_MIN) instead of a denormal) and the sigmoid built on it.  x86-64
 * with GCC only; the callers dispatch on util/cpu.h and keep a scalar
 * path.
 */
#ifndef SP_NN_OPS_VMATH_H
#define SP_NN_OPS_VMATH_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define SP_VMATH_T __attribute__((target("avx2,fma")))

SP_VMATH_T static inline __m256
sp_exp_nonpos_avx2(__m256 x)
{
	const __m256 lo = _mm256_set1_ps(-87.33654475f);
	__m256		under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
	__m256		fx,
				r,
				r2,
				y;
	__m256i		e;

	x = _mm256_max_ps(x, lo);
	fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
						 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
	r2 = _mm256_mul_ps(r, r);
	y = _mm256_set1_ps(1.9875691500e-4f);
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
	y = _mm256_add_ps(_mm256_fmadd_ps(y, r2, r), _mm256_set1_ps(1.0f));
	/* 2^fx, fx in [-126, 0] */
	e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
	y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
	return _mm256_andnot_ps(under, y);
}

/* 1 / (1 + exp(-x)) from exp(-|x|) (no overflow either side); NaN stays NaN. */
SP_VMATH_T static inline __m256
sp_sigmoid_avx2(__m256 x)
{
	const __m256 one = _mm256_set1_ps(1.0f);
	__m256		ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
	__m256		e = sp_exp_nonpos_avx2(_mm256_sub_ps(_mm256_setzero_ps(), ax));
	__m256		r = _mm256_div_ps(one, _mm256_add_ps(one, e));
	__m256		s = _mm256_blendv_ps(_mm256_mul_ps(e, r), r, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));

	return _mm256_blendv_ps(s, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

#endif
#endif							/* SP_NN_OPS_VMATH_H */
